"""helpers.data.voc2007 on two small tars in the official layout, with hand-worked labels."""

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from helpers.data import sources
from helpers.data.archives import Archive
from helpers.data.sources import DataSource
from helpers.data.voc2007 import load_voc2007

TOP = "VOCdevkit/VOC2007/"
# image id -> objects (class, difficult); worked by hand below
OBJECTS = {
    "000001": [("dog", 0), ("person", 0)],
    "000002": [("cat", 1)],
    "000004": [("car", 1), ("car", 0), ("bottle", 1)],
    "000003": [("tvmonitor", 0)],
}


#: The 20 PASCAL VOC classes in the devkit's (alphabetical) order, written out independently.
VOC_CLASSES = [
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
]


def _xml(objects):
    body = "".join(
        f"<object><name>{n}</name><pose>Left</pose><truncated>0</truncated>"
        f"<difficult>{d}</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
        f"<ymax>5</ymax></bndbox></object>"
        for n, d in objects
    )
    return (
        f"<annotation><folder>VOC2007</folder><size><width>20</width><height>10</height>"
        f"<depth>3</depth></size>{body}</annotation>".encode()
    )


def _tar(path, members):
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(TOP + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _jpeg(value):
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (value, 0, 0)).save(buffer, format="JPEG", quality=100)
    return buffer.getvalue()


@pytest.fixture
def voc(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    monkeypatch.setenv("COURSE_PROFILE", "full")
    entry = sources.REGISTRY["voc2007"]
    monkeypatch.setitem(
        sources.REGISTRY,
        "voc2007",
        DataSource(
            **{
                **entry.__dict__,
                "archives": tuple(Archive(a.filename, None) for a in entry.archives),
            }
        ),
    )
    folder = tmp_path / "cache" / "voc2007"
    folder.mkdir(parents=True)
    for tar_name, ids, sets in (
        (
            "VOCtrainval_06-Nov-2007.tar",
            ["000001", "000002", "000004"],
            {
                "trainval": ["000001", "000002", "000004"],
                "train": ["000001"],
                "val": ["000002", "000004"],
            },
        ),
        ("VOCtest_06-Nov-2007.tar", ["000003"], {"test": ["000003"]}),
    ):
        members = {f"Annotations/{i}.xml": _xml(OBJECTS[i]) for i in ids}
        members.update({f"JPEGImages/{i}.jpg": _jpeg(40 * int(i)) for i in ids})
        members.update(
            {f"ImageSets/Main/{s}.txt": ("\n".join(v) + "\n").encode() for s, v in sets.items()}
        )
        _tar(folder / tar_name, members)


def test_labels_and_difficult_mask_match_the_hand_worked_annotations(voc):
    data = load_voc2007("trainval", image_size=16, progress=False).trainval
    assert data.image_ids.tolist() == ["000001", "000002", "000004"]
    column = {name: VOC_CLASSES.index(name) for name in ("dog", "person", "cat", "car", "bottle")}
    expected_labels = np.zeros((3, 20), int)
    expected_labels[0, [column["dog"], column["person"]]] = 1
    expected_labels[2, column["car"]] = 1  # one car is not difficult: the class counts
    expected_difficult = np.zeros((3, 20), bool)
    expected_difficult[1, column["cat"]] = True  # cat only as a difficult object
    expected_difficult[2, column["bottle"]] = True
    assert np.array_equal(data.labels, expected_labels)
    assert np.array_equal(data.difficult, expected_difficult)
    assert data.images.shape == (3, 16, 16, 3) and data.images.dtype == np.uint8
    assert data.images[:, 8, 8, 0].tolist() == pytest.approx([40, 80, 160], abs=3)


def test_the_test_set_comes_from_the_second_tar_and_classes_are_standard(voc):
    voc = load_voc2007(("test", "val"), image_size=8, progress=False)
    data = voc.test
    assert data.image_ids.tolist() == ["000003"]
    assert data.labels[0].nonzero()[0].tolist() == [19]
    assert list(voc.class_names) == VOC_CLASSES
    assert len(voc.val.image_ids) == 2
    assert voc.describe().endswith("20 classes; test 1, val 2")


def test_an_unknown_split_is_refused_before_any_fetch():
    with pytest.raises(ValueError, match="split must be one of"):
        load_voc2007("all")


# A second test tar, in the official layout, with what real VOC images bring: several objects,
# classes present only as difficult objects, truncated objects, a greyscale JPEG, varied sizes.
# image id -> (width, height, PIL mode, grey/red value, objects (class, difficult, truncated))
VARIED = {
    "000010": (20, 10, "RGB", 200, [("dog", 0, 0), ("person", 0, 0)]),
    "000011": (31, 17, "RGB", 150, [("dog", 1, 0), ("chair", 0, 1)]),
    "000012": (12, 40, "RGB", 100, [("person", 0, 1)]),
    "000013": (50, 30, "RGB", 60, [("cat", 0, 0), ("dog", 1, 0), ("dog", 0, 1)]),
    "000014": (25, 25, "L", 90, [("sofa", 0, 0), ("bottle", 1, 1)]),
}


def _varied_xml(width, height, objects):
    body = "".join(
        f"<object><name>{n}</name><pose>Unspecified</pose><truncated>{t}</truncated>"
        f"<difficult>{d}</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>"
        f"<xmax>{width}</xmax><ymax>{height}</ymax></bndbox></object>"
        for n, d, t in objects
    )
    return (
        f"<annotation><folder>VOC2007</folder><size><width>{width}</width><height>{height}"
        f"</height><depth>3</depth></size><segmented>0</segmented>{body}</annotation>"
    ).encode()


def _varied_jpeg(width, height, mode, value):
    buffer = io.BytesIO()
    Image.new(mode, (width, height), value if mode == "L" else (value, 30, 0)).save(
        buffer, format="JPEG", quality=100
    )
    return buffer.getvalue()


@pytest.fixture
def varied_voc(voc, tmp_path):
    """Replace the test tar of the ``voc`` fixture by one holding the VARIED images."""
    ids = list(VARIED)
    members = {
        f"Annotations/{i}.xml": _varied_xml(w, h, objects)
        for i, (w, h, _, _, objects) in VARIED.items()
    }
    members.update(
        {
            f"JPEGImages/{i}.jpg": _varied_jpeg(w, h, mode, value)
            for i, (w, h, mode, value, _) in VARIED.items()
        }
    )
    members["ImageSets/Main/test.txt"] = ("\n".join(ids) + "\n").encode()
    _tar(tmp_path / "cache" / "voc2007" / "VOCtest_06-Nov-2007.tar", members)


def test_multi_object_truncated_and_difficult_only_annotations_give_the_hand_worked_rows(
    varied_voc,
):
    data = load_voc2007("test", image_size=16, progress=False).test
    col = VOC_CLASSES.index
    expected_labels = np.zeros((5, 20), int)
    for row, names in enumerate(
        [["dog", "person"], ["chair"], ["person"], ["cat", "dog"], ["sofa"]]
    ):
        expected_labels[row, [col(name) for name in names]] = 1  # truncated objects count
    expected_difficult = np.zeros((5, 20), bool)
    expected_difficult[1, col("dog")] = True  # dog only as a difficult object
    expected_difficult[4, col("bottle")] = True  # difficult and truncated: still difficult only
    assert data.image_ids.tolist() == list(VARIED)
    assert np.array_equal(data.labels, expected_labels)
    assert np.array_equal(data.difficult, expected_difficult)


def test_greyscale_and_differently_sized_jpegs_become_one_rgb_array(varied_voc):
    data = load_voc2007("test", image_size=16, progress=False).test
    assert data.images.shape == (5, 16, 16, 3) and data.images.dtype == np.uint8
    grey = data.images[4].astype(int)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 0], grey[..., 2])
    assert abs(int(np.median(grey)) - 90) <= 3
    reds = [int(np.median(image[..., 0])) for image in data.images[:4]]
    assert reds == pytest.approx([value for _, _, _, value, _ in list(VARIED.values())[:4]], abs=4)


def test_per_class_ap_leaves_difficult_only_images_out_of_that_class_as_worked_by_hand(varied_voc):
    from helpers.retrieval import per_class_average_precision

    data = load_voc2007("test", image_size=8, progress=False).test
    dog = VOC_CLASSES.index("dog")
    scores = np.zeros((5, 20))
    scores[:, dog] = [0.6, 0.9, 0.8, 0.3, 0.1]
    # Ranking of dog scores: 000011 (difficult-only) 0.9, 000012 (no dog) 0.8, 000010 (dog) 0.6,
    # 000013 (dog) 0.3, 000014 (no dog) 0.1.
    # VOC rule, 000011 left out: precisions 1/2 and 2/3 at the two dogs -> AP 7/12.
    # Counting it as a negative instead: 1/3 and 2/4 -> 5/12.
    with pytest.warns(RuntimeWarning, match="no positive"):
        voc_rule = per_class_average_precision(data.labels, scores, ignore=data.difficult)
        as_negative = per_class_average_precision(data.labels, scores)
    assert voc_rule[dog] == pytest.approx(7 / 12)
    assert as_negative[dog] == pytest.approx(5 / 12)
