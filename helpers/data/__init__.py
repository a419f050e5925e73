"""The data layer: every data set from any source, as uint8 arrays, with one call.

``from helpers.data import load_tiny_imagenet`` (and the other loaders below) is all a notebook
needs; each result says where its data came from (``.source``, ``.describe()``). Sources,
cache layout and environment variables are described in ``data/README.md``.
"""

from helpers.data.caltech256 import load_caltech256
from helpers.data.car_vs_other import load_car_vs_other
from helpers.data.fashion_mnist import load_fashion_mnist
from helpers.data.pipeline import make_dataset
from helpers.data.sources import REGISTRY, DataNotFoundError, FetchedData, fetch
from helpers.data.tiny_imagenet import load_tiny_imagenet
from helpers.data.urban_tribes import load_urban_tribes
from helpers.data.voc2007 import load_voc2007

__all__ = [
    "REGISTRY",
    "DataNotFoundError",
    "FetchedData",
    "fetch",
    "load_caltech256",
    "load_car_vs_other",
    "load_fashion_mnist",
    "load_tiny_imagenet",
    "load_urban_tribes",
    "load_voc2007",
    "make_dataset",
]
