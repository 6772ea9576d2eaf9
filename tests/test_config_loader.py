"""One config loader for every config dataclass, and one dataset registry for every CLI."""
import dataclasses
from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple

import pytest
import yaml

from cion.pretrain.augment import MultiCropConfig
from cion.pretrain.config import PretrainConfig, load_config
from reidzoo.config_loader import ConfigError, config_from_dict, config_to_dict, known_keys
from reidzoo.config_loader import load_config as load_any
from reidzoo.finetune import FinetuneConfig


@dataclass
class Inner:
    size: Tuple[int, int] = (4, 2)
    p: float = 0.5


@dataclass
class Outer:
    name: str = "a"
    count: int = 1
    rate: float = 0.1
    flag: bool = False
    path: Optional[str] = None
    sizes: List[int] = field(default_factory=lambda: [1, 2])
    kind: Literal["x", "y"] = "x"
    extra: Dict[str, float] = field(default_factory=dict)
    inner: Inner = field(default_factory=Inner)


def _yaml(tmp_path, data, name="c.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.mark.parametrize("data,message", [
    ({"epochs": "three"}, "epochs must be an integer, got 'three'"),
    ({"lr": "abc"}, "lr must be a number, got 'abc'"),
    ({"tensorboard": "yes please"}, "tensorboard must be true or false"),
    ({"gradual_instances": [2, "four"]}, r"gradual_instances\[1\] must be an integer"),
    ({"augment": {"global_size": [256]}}, "augment.global_size must be a list of 2 integers"),
    ({"init_weights": 3}, "init_weights must be a string or null"),
])
def test_wrong_types_fail_in_one_line_naming_key_and_type(tmp_path, data, message):
    path = _yaml(tmp_path, data)
    with pytest.raises(ConfigError, match=message) as err:
        load_config(str(path))
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_unknown_keys_suggest_close_and_nested_names(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'epoch' \(did you mean epochs"):
        load_config(None, ["epoch=3"])
    # a multi-crop key at the top level points to its section
    with pytest.raises(ConfigError, match=r"did you mean .*augment\.local_crops"):
        load_config(str(_yaml(tmp_path, {"local_crops": 4})))
    with pytest.raises(ConfigError, match=r"unknown key 'augment\.solarise_p' \(did you mean augment\.solarize_p"):
        load_config(None, ["augment.solarise_p=[0,0,0]"])
    with pytest.raises(ConfigError, match="unknown key 'batchsize'"):
        FinetuneConfig.from_yaml(_yaml(tmp_path, {"batchsize": 3}, "f.yaml"))


def test_overrides_parse_by_field_type():
    cfg = load_any(Outer, None, ["name=2024", "count=3", "rate=1e-6", "flag=true", "path=null", "sizes=[3,4]",
                                 "kind=y", "extra={a: 1}", "inner.size=[8,4]"])
    assert cfg == Outer(name="2024", count=3, rate=1e-6, flag=True, path=None, sizes=[3, 4], kind="y",
                        extra={"a": 1.0}, inner=Inner(size=(8, 4)))
    assert load_any(Outer, None, ["path=runs/x"]).path == "runs/x"
    with pytest.raises(ConfigError, match="kind must be one of x, y"):
        load_any(Outer, None, ["kind=z"])
    with pytest.raises(ConfigError, match="must look like key=value"):
        load_any(Outer, None, ["count"])
    # a nested section changes only the keys it names; the rest keep the defaults
    assert config_from_dict(Outer, {"inner": {"p": 1}}).inner == Inner(size=(4, 2), p=1.0)


def test_yaml_then_overrides_and_plain_round_trip(tmp_path):
    path = _yaml(tmp_path, {"epochs": 7, "lr": 1e-3, "augment": {"local_crops": 2, "hue": 0.05}})
    cfg = load_config(str(path), ["augment.local_crops=4", "lr=2e-3"])
    assert (cfg.epochs, cfg.lr, cfg.augment.local_crops, cfg.augment.hue) == (7, 2e-3, 4, 0.05)
    plain = cfg.to_dict()
    assert plain["augment"]["global_size"] == [256, 128]  # lists, so yaml.safe_dump takes it
    assert config_from_dict(PretrainConfig, yaml.safe_load(yaml.safe_dump(plain))) == cfg
    with pytest.raises(FileNotFoundError):
        load_config(str(tmp_path / "missing.yaml"))
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping of settings"):
        load_config(str(tmp_path / "list.yaml"))


def test_every_multicrop_field_is_reachable_from_the_pretrain_config(tmp_path):
    mc_fields = [f.name for f in dataclasses.fields(MultiCropConfig)]
    assert {f"augment.{n}" for n in mc_fields} <= set(known_keys(PretrainConfig))
    changed = {"global_size": [128, 64], "local_size": [64, 32], "local_crops": 3, "global_scale": [0.5, 1.0],
               "local_scale": [0.1, 0.5], "ratio": [0.3, 0.7], "flip_p": 0.0, "jitter_p": 0.5, "brightness": 0.1,
               "contrast": 0.2, "saturation": 0.3, "hue": 0.05, "grey_p": 0.0, "blur_p": [0.5, 0.5, 0.5],
               "solarize_p": [0.0, 0.5, 0.0], "blur_sigma": [0.2, 1.0]}
    assert sorted(changed) == sorted(mc_fields)
    cfg = load_config(str(_yaml(tmp_path, {"augment": changed})))
    default = MultiCropConfig()
    for name, value in changed.items():
        got = getattr(cfg.augment, name)
        assert got == (tuple(value) if isinstance(value, list) else value) != getattr(default, name), name


def test_finetune_config_same_rules(tmp_path):
    path = _yaml(tmp_path, {"epochs": 5, "steps": [2, 4], "triplet_margin": None}, "f.yaml")
    cfg = FinetuneConfig.from_yaml(path, ["lr=1e-4"], epochs=None, seed=3)
    assert (cfg.epochs, cfg.steps, cfg.triplet_margin, cfg.lr, cfg.seed) == (5, (2, 4), None, 1e-4, 3)
    assert cfg.to_dict()["steps"] == [2, 4]
    with pytest.raises(ConfigError, match="epochs must be an integer, got 'three'"):
        FinetuneConfig.from_yaml(None, ["epochs=three"])
    with pytest.raises(ConfigError, match="lr must be a number"):
        FinetuneConfig.from_yaml(None, lr="abc")


def test_dataset_registry(tmp_path, capsys):
    from reidzoo.data import Market1501, build_dataset, dataset_names, register_dataset
    from reidzoo.data.synthetic import make_market_like
    assert {"market1501", "msmt17", "synthetic"} <= set(dataset_names())

    class Mine(Market1501):
        name = "mine"

    root = tmp_path / "m"
    make_market_like(root, n_ids_train=2, n_ids_test=2, cameras=2, images_per_id=4, seed=0, progress=False)
    register_dataset("my-set", Mine)
    try:
        assert "myset" in dataset_names()
        ds = build_dataset("My_Set", root)
        assert isinstance(ds, Mine) and ds.query
        with pytest.raises(ValueError, match="already registered"):
            register_dataset("myset", Market1501)
        # the commands offer what the registry holds
        from reidzoo.cli import main as reidzoo_main
        for command in ("finetune", "evaluate", "extract"):
            with pytest.raises(SystemExit):
                reidzoo_main([command, "--help"])
            assert "myset" in capsys.readouterr().out, command
    finally:
        from reidzoo.data import registry
        registry._REGISTRY.pop("myset", None)
    with pytest.raises(ValueError, match="unknown dataset 'cuhk99'.*market1501"):
        build_dataset("cuhk99")
