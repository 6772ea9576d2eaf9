"""The ReIDZoo at a glance: list the models, measure them, write their model cards.

Subcommands:
  list      table of names, families, embedding sizes, params and FLOPs (measured beside the
            CION paper's) and the paper's fine-tuned Market-1501 / MSMT17 results
  measure   count parameters and FLOPs at 256x128 by code, write reidzoo/models/measured.json
            and refresh the zoo table in docs/zoo.md (run it after adding a ZooSpec)
  cards     write model_cards/<name>/README.md for every model (huggingface_hub ModelCard)
  info NAME one model's card

Examples:
  reidzoo zoo list
  reidzoo zoo list --family ResNet-IBN
  reidzoo zoo measure && reidzoo zoo cards
  reidzoo zoo measure my_new_backbone     # after adding its ZooSpec (docs/zoo.md: where a change goes)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_list(a: argparse.Namespace) -> int:
    """Print the zoo as a text table, Markdown or JSON."""
    import reidzoo
    from reidzoo.models.table import fmt as _fmt
    from reidzoo.models.table import markdown_table
    rows = reidzoo.list_models()
    if a.family:
        rows = [r for r in rows if r["family"].lower() == a.family.lower()]
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    if a.markdown:
        print(markdown_table(rows))
        return 0
    head = ["name", "family", "dim", "params M", "paper M", "GFLOPs", "paper G", "M-1501 mAP/R1", "MSMT17 mAP/R1"]
    table = [head] + [[
        r["name"], r["family"], str(r["embed_dim"]), _fmt(r["params_m"]), _fmt(r["paper_backbone_params_m"]),
        _fmt(r["flops_g"]), _fmt(r["paper_flops_g"]),
        f"{_fmt(r['market1501_map'], '{:.1f}')}/{_fmt(r['market1501_rank1'], '{:.1f}')}",
        f"{_fmt(r['msmt17_map'], '{:.1f}')}/{_fmt(r['msmt17_rank1'], '{:.1f}')}",
    ] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print("\nparams: backbone without classifier; FLOPs: multiply-accumulates at 256x128 (measured by "
          "torch.utils.flop_counter); paper columns and results as reported by the CION paper.")
    return 0


def cmd_measure(a: argparse.Namespace) -> int:
    """Measure params/FLOPs of the named models (default all) into measured.json; refresh the docs table."""
    from tqdm import tqdm

    import reidzoo
    from reidzoo.atomic import atomic_write_text
    from reidzoo.models.measure import measure
    from reidzoo.models.registry import MEASURED_JSON
    from reidzoo.models.table import refresh_doc_table
    names = a.names or reidzoo.model_names()
    for n in names:
        reidzoo.get_spec(n)  # a misspelt name fails before any measuring
    out = json.loads(MEASURED_JSON.read_text()) if MEASURED_JSON.exists() else {}
    for n in tqdm(names, desc="measuring", unit="model"):
        out[n] = measure(n)
    out = {n: out[n] for n in reidzoo.model_names() if n in out}  # the zoo's order
    atomic_write_text(MEASURED_JSON, json.dumps(out, indent=1, sort_keys=False) + "\n")
    print(f"wrote {MEASURED_JSON}")
    doc = Path(a.doc)
    if doc.is_file():
        print(f"{'refreshed' if refresh_doc_table(doc) else 'unchanged'}: the zoo table in {doc}")
    return 0


def _release_card(name: str) -> str:
    from reidzoo.cards import Provenance, card_text
    from reidzoo.hub import repo_id_for
    return card_text(name, Provenance.release(), repo_id_for(name))


def cmd_cards(a: argparse.Namespace) -> int:
    """Write every model's card under --out."""
    from tqdm import tqdm

    import reidzoo
    out = Path(a.out)
    for n in tqdm(reidzoo.model_names(), desc="model cards", unit="card"):
        d = out / n
        d.mkdir(parents=True, exist_ok=True)
        (d / "README.md").write_text(_release_card(n))
    print(f"wrote {len(reidzoo.model_names())} cards under {out}")
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    """Print one model's release card."""
    print(_release_card(a.name))
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The subcommands of `reidzoo zoo`."""
    sub = p.add_subparsers(dest="zoo_command", required=True, metavar="{list,measure,cards,info}")
    s = sub.add_parser("list", help="table of the zoo")
    s.add_argument("--family", help="only this family, e.g. ViT")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--markdown", action="store_true", help="a Markdown table (as in docs/zoo.md)")
    s.set_defaults(fn=cmd_list)
    s = sub.add_parser("measure", help="measure params/FLOPs by code")
    s.add_argument("names", nargs="*", help="models (default: every zoo model)")
    s.add_argument("--doc", default="docs/zoo.md", help="Markdown page whose zoo table to refresh (if it exists)")
    s.set_defaults(fn=cmd_measure)
    s = sub.add_parser("cards", help="write model cards")
    s.add_argument("--out", default="model_cards", help="folder (default: ./model_cards)")
    s.set_defaults(fn=cmd_cards)
    s = sub.add_parser("info", help="print one model card")
    s.add_argument("name")
    s.set_defaults(fn=cmd_info)


def run(a: argparse.Namespace) -> int:
    """Run the chosen zoo subcommand."""
    return a.fn(a)
