"""Paper 000's conv DVAE on SVHN 64x64: corruption N(x, 0.25 I)."""

from configs import base


def get_config():
    return base.paper000_conv("tfds:svhn_cropped", "dvae")
