"""A synthetic re-ID world: seeded people, cameras, Market-style benchmarks and videos with ground truth.

    from reidzoo.data.synthetic import make_market_like, make_videos
    make_market_like("datasets/synthetic_market", n_ids_train=100, n_ids_test=100, seed=0)
    make_videos("datasets/synthetic_videos", n_videos=4, people_per_video=(2, 6), frames=300, seed=0)
"""
from .cameras import Camera, make_camera, render_background
from .identities import Identity, make_identities, make_identity
from .market import make_market_like
from .render import Sprite, composite, render_person
from .videos import gt_detections, make_videos, plan_videos, render_frames

__all__ = ["make_market_like", "make_videos", "make_identity", "make_identities", "Identity", "make_camera",
           "Camera", "render_background", "render_person", "composite", "Sprite", "plan_videos", "render_frames",
           "gt_detections"]
