"""Generate synthetic re-ID data: a Market-1501-style benchmark or surveillance videos with ground truth.

Examples:
  # 100 training + 100 test identities, 6 cameras, ~10 images each (about 2,300 JPEGs, a few seconds)
  reidzoo synthetic market --out datasets/synthetic_market --seed 0

  # 4 videos of 300 frames at 640x360 with 2-6 people each, identities shared between videos
  reidzoo synthetic videos --out datasets/synthetic_videos --seed 0 --videos 4 --people 2 6

  # pictures: identities across the six cameras, and video frames with their gt boxes
  reidzoo synthetic pictures --out docs/img --seed 0

The same --seed gives byte-identical output. A non-empty --out is refused unless --overwrite;
output appears only when complete (written to a temporary folder, then renamed).
"""
from __future__ import annotations

import argparse

from .argtypes import non_negative_int, number, positive_float, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The subcommands of `reidzoo synthetic`: market, videos, pictures."""
    sub = p.add_subparsers(dest="what", required=True, metavar="{market,videos,pictures}")
    common = argparse.ArgumentParser(add_help=False)  # the options market and videos share
    common.add_argument("--out", required=True, help="output folder (created; must not exist or be empty)")
    common.add_argument("--seed", type=non_negative_int, default=0,
                        help="world seed: same seed, same people and bytes (default 0)")
    common.add_argument("--identity-offset", type=non_negative_int, default=0,
                        help="first global identity number used (keeps benchmarks and videos disjoint if wanted)")
    common.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")

    m = sub.add_parser("market", parents=[common], help="Market-1501-style benchmark (bounding_box_train/, bounding_box_test/, query/)",
                       description="Write a Market-1501-style benchmark readable by reidzoo.data.Market1501(OUT). "
                                   "File names follow Market: PPPP_cCsS_FFFFFF_BB.jpg; the gallery holds junk (-1) "
                                   "and distractor (0000) images.")
    m.add_argument("--ids-train", type=positive_int, default=100, help="training identities (default 100)")
    m.add_argument("--ids-test", type=positive_int, default=100, help="test identities, in query and gallery (default 100)")
    m.add_argument("--cameras", type=number(int, minimum=2, maximum=6), default=6, help="cameras c1..cN, 2 to 6 (default 6)")
    m.add_argument("--images-per-id", type=number(int, minimum=4), default=10,
                   help="images per identity, spread over >= 2 cameras with >= 2 each (default 10, min 4)")
    m.add_argument("--junk", type=non_negative_int, default=None, help="junk '-1' gallery images (default 5%% of test images)")
    m.add_argument("--distractors", type=non_negative_int, default=None,
                   help="distractor '0000' gallery images (default 10%% of test images)")
    m.add_argument("--difficulty", choices=["default", "hard"], default="default",
                   help="'hard': look-alike groups of 6 sharing patterns, strong camera colour casts, blur, "
                        "scale and viewpoint shifts, 45%% occluded crops (docs/synthetic.md; default: default)")

    v = sub.add_parser("videos", parents=[common], help="surveillance clips + MOTChallenge gt + global identities",
                       description="Write OUT/videos/vidNNN.avi, OUT/gt/vidNNN/gt.txt (frame,id,x,y,w,h,1,-1,-1,-1), "
                                   "OUT/identities.json (track id -> global identity) and OUT/meta.json.")
    v.add_argument("--videos", type=positive_int, default=4, help="number of videos, one camera each (default 4)")
    v.add_argument("--people", type=positive_int, nargs="+", default=[2, 6], metavar="N",
                   help="people per video: one number, or MIN MAX (default 2 6)")
    v.add_argument("--frames", type=number(int, minimum=2), default=300, help="frames per video (default 300)")
    v.add_argument("--width", type=positive_int, default=640, help="frame width in pixels, even (default 640)")
    v.add_argument("--height", type=positive_int, default=360, help="frame height in pixels, even (default 360)")
    v.add_argument("--fps", type=positive_float, default=25.0, help="frames per second written to the file (default 25)")
    v.add_argument("--identities", type=positive_int, default=None,
                   help="size of the identity pool shared by all videos (default: each person in ~3 videos)")
    pc = sub.add_parser("pictures", help="PNG mosaic of identities across cameras + video frames with gt boxes",
                        description="Write OUT/synthetic_mosaic.png (rows: identities in look-alike groups of three; "
                                    "columns: cameras c1..c6) and OUT/synthetic_video.png (frames with gt boxes "
                                    "labelled track id -> global identity).")
    pc.add_argument("--out", required=True, help="folder for the two PNG files")
    pc.add_argument("--seed", type=non_negative_int, default=0, help="world seed (default 0)")
    pc.add_argument("--identities", type=positive_int, default=9, help="rows of the mosaic (default 9)")


def run(a: argparse.Namespace) -> int:
    """Generate the requested data and print where it went."""
    from reidzoo.data.synthetic import make_market_like, make_videos
    if a.what == "market":
        out = make_market_like(a.out, a.ids_train, a.ids_test, a.cameras, a.images_per_id,
                               a.seed, n_junk=a.junk, n_distractors=a.distractors,
                               identity_offset=a.identity_offset, overwrite=a.overwrite,
                               difficulty=a.difficulty)
    elif a.what == "pictures":
        from pathlib import Path
        from reidzoo.data.synthetic.mosaic import identity_mosaic, video_preview
        identity_mosaic(Path(a.out) / "synthetic_mosaic.png", a.seed, tuple(range(a.identities)))
        out = video_preview(Path(a.out) / "synthetic_video.png", a.seed).parent
    else:
        if len(a.people) not in (1, 2):
            raise ValueError(f"--people takes one number or MIN MAX, got {a.people}")
        people = a.people[0] if len(a.people) == 1 else tuple(a.people)
        out = make_videos(a.out, a.videos, people, a.frames, a.seed, width=a.width,
                          height=a.height, fps=a.fps, n_identities=a.identities,
                          identity_offset=a.identity_offset, overwrite=a.overwrite)
    print(f"wrote {out}")
    return 0
