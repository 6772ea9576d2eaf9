"""A query/gallery split of a synthetic set's train identities: how tests measure that a run learned its own people."""
from types import SimpleNamespace

import reidzoo


def train_split(root):
    """Query = one image per train identity, gallery = the rest: mAP on the training people."""
    ds = reidzoo.data.Market1501(root)
    first = {}
    for it in ds.train:
        first.setdefault(it[1], it)
    q = list(first.values())
    return SimpleNamespace(query=q, gallery=[it for it in ds.train if it not in q])
