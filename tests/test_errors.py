import pickle

import pytest

from kerasseg.errors import UnknownNameError, check_name, unknown_name_message


def test_unknown_name_message_shape_and_type():
    assert unknown_name_message("backbone", "resnet99", ["resnet50", "vgg16"]) == (
        "unknown backbone 'resnet99'; valid: resnet50, vgg16")
    with pytest.raises(UnknownNameError, match=r"^unknown dataset 'kitti'; valid: camvid, voc$") as error:
        check_name("dataset", "kitti", ("camvid", "voc"))
    assert isinstance(error.value, ValueError)
    assert (error.value.kind, error.value.name, error.value.valid) == ("dataset", "kitti", ("camvid", "voc"))
    assert check_name("dataset", "voc", ("camvid", "voc")) == "voc"
    copy = pickle.loads(pickle.dumps(error.value))
    assert type(copy) is UnknownNameError and str(copy) == str(error.value)
