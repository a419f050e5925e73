"""Networks: the ones a notebook uses, the pretrained VGG16 and ResNet50, neural-code extraction.

``from helpers import models`` then ``models.pretrained_vgg16()``, ``models.extract_codes(...)``.
"""

from helpers.models.features import extract_codes, l2_normalize
from helpers.models.networks import (
    FashionNet,
    fashion_net,
)
from helpers.models.resnet50 import pretrained_resnet50, resnet50_classifier, unfreeze_top_stage
from helpers.models.vgg16 import WeightsInfo, pretrained_vgg16, vgg16_preprocess

__all__ = [
    "FashionNet",
    "WeightsInfo",
    "extract_codes",
    "fashion_net",
    "l2_normalize",
    "pretrained_resnet50",
    "pretrained_vgg16",
    "resnet50_classifier",
    "unfreeze_top_stage",
    "vgg16_preprocess",
]
