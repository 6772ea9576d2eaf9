#!/usr/bin/env python
"""The ReIDZoo at a glance: list the 32 models, measure them, write their model cards.

Commands:
    list      table of names, families, embedding sizes, params and FLOPs (measured beside the
              CION paper's) and the paper's fine-tuned Market-1501 / MSMT17 results
    measure   count parameters and FLOPs at 256x128 by code, write reidzoo/models/measured.json
    cards     write model_cards/<name>/README.md for every model (huggingface_hub ModelCard)
    info NAME one model's card

Examples:
    tools/zoo.py list
    tools/zoo.py list --family ResNet-IBN
    tools/zoo.py measure && tools/zoo.py cards
"""
import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

import reidzoo
from reidzoo.models.registry import MEASURED_JSON

ROOT = Path(__file__).resolve().parents[1]


def _fmt(v, spec="{:.2f}"):
    return "-" if v is None else spec.format(v)


def cmd_list(a) -> int:
    rows = reidzoo.list_models()
    if a.family:
        rows = [r for r in rows if r["family"].lower() == a.family.lower()]
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    if a.markdown:
        print("| model | family | dim | params M (ours / paper) | GFLOPs (ours / paper) | Market-1501 mAP / R1 | MSMT17 mAP / R1 |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| `{r['name']}` | {r['family']} | {r['embed_dim']} | {_fmt(r['params_m'])} / "
                  f"{_fmt(r['paper_backbone_params_m'])} | {_fmt(r['flops_g'])} / {_fmt(r['paper_flops_g'])} | "
                  f"{r['market1501_map']:.1f} / {r['market1501_rank1']:.1f} | {r['msmt17_map']:.1f} / {r['msmt17_rank1']:.1f} |")
        return 0
    head = ["name", "family", "dim", "params M", "paper M", "GFLOPs", "paper G", "M-1501 mAP/R1", "MSMT17 mAP/R1"]
    table = [head] + [[
        r["name"], r["family"], str(r["embed_dim"]), _fmt(r["params_m"]), _fmt(r["paper_backbone_params_m"]),
        _fmt(r["flops_g"]), _fmt(r["paper_flops_g"]),
        f"{r['market1501_map']:.1f}/{r['market1501_rank1']:.1f}", f"{r['msmt17_map']:.1f}/{r['msmt17_rank1']:.1f}",
    ] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("\nparams: backbone without classifier; FLOPs: multiply-accumulates at 256x128 (measured by "
          "torch.utils.flop_counter); paper columns and results as reported by the CION paper.")
    return 0


def cmd_measure(a) -> int:
    from reidzoo.models.measure import measure
    names = a.names or reidzoo.model_names()
    out = json.loads(MEASURED_JSON.read_text()) if MEASURED_JSON.exists() else {}
    for n in tqdm(names, desc="measuring", unit="model"):
        out[n] = measure(n)
    tmp = MEASURED_JSON.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    tmp.replace(MEASURED_JSON)
    print(f"wrote {MEASURED_JSON}")
    return 0


def cmd_cards(a) -> int:
    from reidzoo.cards import model_card_text
    out = Path(a.out)
    for n in tqdm(reidzoo.model_names(), desc="model cards", unit="card"):
        d = out / n
        d.mkdir(parents=True, exist_ok=True)
        (d / "README.md").write_text(model_card_text(n))
    print(f"wrote {len(reidzoo.model_names())} cards under {out}")
    return 0


def cmd_info(a) -> int:
    from reidzoo.cards import model_card_text
    print(model_card_text(a.name))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("list", help="table of the zoo")
    s.add_argument("--family", help="only this family, e.g. ViT")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--markdown", action="store_true", help="a Markdown table (as in the README)")
    s.set_defaults(fn=cmd_list)
    s = sub.add_parser("measure", help="measure params/FLOPs by code")
    s.add_argument("names", nargs="*", help="models (default: all 32)")
    s.set_defaults(fn=cmd_measure)
    s = sub.add_parser("cards", help="write model cards")
    s.add_argument("--out", default=str(ROOT / "model_cards"), help="folder (default: model_cards/)")
    s.set_defaults(fn=cmd_cards)
    s = sub.add_parser("info", help="print one model card")
    s.add_argument("name")
    s.set_defaults(fn=cmd_info)
    a = p.parse_args(argv)
    try:
        return a.fn(a)
    except reidzoo.UnknownModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
