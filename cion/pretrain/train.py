"""The CION pre-training loop: identity-guided self-distillation, one readable loop in DINO's style."""
from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.utils.data import DataLoader
from tqdm import tqdm

from reidzoo.atomic import atomic_path, atomic_write_text
from reidzoo.devices import check_device
from reidzoo.rundir import RunDirError, RunLock

from .augment import MultiCrop, normalize_views
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import PretrainConfig
from .data import CionALDataset, CollateIdentityBatch
from .diagnostics import CollapseMonitor, step_diagnostics
from .head import DINOHead
from .loss import IdentityDistillationLoss
from .model import MultiCropNet, build_backbone, convert_sync_batchnorm
from .optim import build_optimizer, param_groups
from .sampler import IdentityBatchSampler, k_for_epoch
from .schedules import cosine_schedule, teacher_temp_schedule

log = logging.getLogger("cion.pretrain")
LOG_NAME = "log.jsonl"
MAX_LOGGED_FAILURES = 5
# what a run writes into output_dir; --overwrite removes these (and tb/), nothing else in the folder
RUN_FILES = (CHECKPOINT_NAME, LOG_NAME, "config.yaml", "loss_lr.png")
# keys a resumed run may change: where things are and how fast they run, not what is trained
RESUME_MAY_CHANGE = frozenset({"output_dir", "image_root", "annotations", "allow_absolute_paths", "num_workers",
                               "device", "threads",
                               "tensorboard", "save_every_steps", "collapse_patience", "probe_root",
                               "probe_every", "probe_size", "probe_bn_images", "epochs"})


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""

    exit_code = 1  # the inputs were fine; the run failed


# ---------------------------------------------------------------- distributed setup
def init_distributed(device: str = "auto") -> tuple[int, int, torch.device]:
    """(rank, world size, device); torchrun's env starts a process group (nccl on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "mps":
        raise ValueError("device=mps is not supported for pre-training (no distributed backend); use cpu or cuda")
    check_device("cuda" if device.startswith("cuda") else device)
    use_cuda = torch.cuda.is_available() if device == "auto" else device.startswith("cuda")
    dev = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return rank, world, dev


def _mean_across_ranks(x: float, device: torch.device) -> float:
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return x
    t = torch.tensor([x], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def _precision(cfg: PretrainConfig, device: torch.device):
    """(autocast dtype or None, use GradScaler)."""
    p = cfg.precision.lower()
    if p == "auto":
        if device.type != "cuda":
            return None, False
        p = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if p == "fp32":
        return None, False
    if p not in ("bf16", "fp16"):
        raise ValueError(f"precision={cfg.precision!r}: choose auto, fp32, bf16 or fp16")
    if device.type != "cuda" and p == "fp16":
        raise ValueError("precision=fp16 needs a GPU; use fp32 (or bf16) on CPU")
    return (torch.bfloat16 if p == "bf16" else torch.float16), p == "fp16"


# ---------------------------------------------------------------- the run
class Pretrainer:
    """Builds data, networks, optimiser and schedules from a config; `fit()` runs the loop."""

    def __init__(self, cfg: PretrainConfig, resume: bool = False, progress: bool = True, overwrite: bool = False):
        if resume and overwrite:
            raise ValueError("--resume continues the run in output_dir and --overwrite replaces it: pass one of them")
        self.cfg = cfg
        self.rank, self.world, self.device = init_distributed(cfg.device)
        self.out = Path(cfg.output_dir)
        self.is_main = self.rank == 0
        self._lock: Optional[RunLock] = None
        try:
            self._setup(resume, overwrite, progress)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the output folder (the lock); `pretrain()` does it when the run ends."""
        if self._lock is not None:
            self._lock.release()

    def _setup(self, resume: bool, overwrite: bool, progress: bool) -> None:
        cfg = self.cfg
        from reidzoo.models.registry import get_spec
        get_spec(cfg.model)  # a misspelt name fails before the data is read
        for key in ("init_weights", "probe_root"):
            if getattr(cfg, key) and not Path(getattr(cfg, key)).exists():
                raise FileNotFoundError(f"{key}={getattr(cfg, key)} does not exist")
        ckpt_stamp = self._checkpoint_stamp()
        ckpt = self._existing_run(resume, overwrite)  # read (and checked) before any work
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.progress = progress and self.is_main
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)

        # data
        mc = cfg.augment
        self.ncrops = mc.ncrops
        self.dataset = CionALDataset(cfg.image_root, cfg.annotations, MultiCrop(mc), cfg.allow_absolute_paths)
        self._len_by_k: Dict[int, int] = {}
        self.steps_per_epoch = [self._epoch_len(e) for e in range(cfg.epochs)]

        # networks
        backbone, dim, resize = build_backbone(cfg.model, mc.local_size, mc.global_size, cfg.init_weights)
        head = DINOHead(dim, cfg.out_dim, cfg.hidden_dim, cfg.bottleneck_dim, cfg.head_layers,
                        cfg.use_bn_in_head, cfg.norm_last_layer)
        student = convert_sync_batchnorm(MultiCropNet(backbone, head, resize), self.device).to(self.device)
        self.teacher = copy.deepcopy(student)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.student_module = student
        if self.world > 1:
            student = torch.nn.parallel.DistributedDataParallel(
                student, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            self.teacher.load_state_dict(student.module.state_dict())  # DDP broadcast rank 0's init
        self.student = student
        self.criterion = IdentityDistillationLoss(cfg.out_dim, self.ncrops, cfg.teacher_temp, cfg.student_temp,
                                                  cfg.center_momentum, cfg.centering,
                                                  cfg.sinkhorn_iterations).to(self.device)
        self.monitor = CollapseMonitor(patience=cfg.collapse_patience)
        self.diag: Dict[str, float] = {}
        self.probe = None
        if cfg.probe_root and self.is_main:
            from .probe import load_probe
            self.probe = load_probe(cfg.probe_root, cfg.probe_size or mc.global_size, cfg.probe_bn_images,
                                    cfg.seed)

        # optimisation
        self.optimizer = build_optimizer(cfg.optimizer, param_groups(self.student_module))
        self.amp_dtype, use_scaler = _precision(cfg, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        global_batch = cfg.batch_size_per_gpu * self.world
        self.lr = cosine_schedule(cfg.lr * global_batch / 256.0, cfg.min_lr, self.steps_per_epoch, cfg.warmup_epochs)
        self.wd = cosine_schedule(cfg.weight_decay, cfg.weight_decay_end, self.steps_per_epoch)
        self.momentum = cosine_schedule(cfg.momentum_teacher, 1.0, self.steps_per_epoch)
        self.teacher_temp = teacher_temp_schedule(cfg.warmup_teacher_temp, cfg.teacher_temp,
                                                  cfg.warmup_teacher_temp_epochs, cfg.epochs)

        self.epoch, self.step_in_epoch, self.it = 0, 0, 0
        self.failed_images, self.dropped_groups = 0, 0
        if self.is_main:
            # one run per folder: a second one would interleave its log and checkpoints with this one's. Taken
            # only now, so that a run refused above leaves the folder untouched; what was decided about the
            # folder before must still hold under the lock
            self._lock = RunLock(self.out).acquire()
            if self._checkpoint_stamp() != ckpt_stamp:
                raise RunDirError(f"another run wrote {self.out / CHECKPOINT_NAME} while this one was starting; "
                                  f"start this one again")
        if self.is_main and overwrite:
            for name in RUN_FILES:
                (self.out / name).unlink(missing_ok=True)
            shutil.rmtree(self.out / "tb", ignore_errors=True)
        if ckpt is not None:
            self._resume(ckpt)
        elif self.is_main:
            (self.out / LOG_NAME).write_text("")
        if self.is_main:
            atomic_write_text(self.out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        self._tb = self._tensorboard() if cfg.tensorboard and self.is_main else None

    # -- helpers
    def _batch_layout(self, epoch: int) -> tuple[int, int]:
        cfg = self.cfg
        K = k_for_epoch(epoch, cfg.gradual_epochs, cfg.gradual_instances)
        if cfg.batch_size_per_gpu % K:
            raise ValueError(f"batch_size_per_gpu={cfg.batch_size_per_gpu} is not a multiple of K={K} "
                             f"(gradual_instances {cfg.gradual_instances}); pick a batch size all K divide")
        return cfg.batch_size_per_gpu // K, K

    def _sampler(self, epoch: int, start_batch: int = 0) -> IdentityBatchSampler:
        P, K = self._batch_layout(epoch)
        return IdentityBatchSampler(self.dataset.labels, P, K, world_size=self.world, rank=self.rank,
                                    seed=self.cfg.seed, epoch=epoch, start_batch=start_batch)

    def _epoch_len(self, epoch: int) -> int:
        K = self._batch_layout(epoch)[1]
        if K not in self._len_by_k:  # one sampler per K, not per epoch (large sets take a moment)
            self._len_by_k[K] = len(self._sampler(epoch))
        n = self._len_by_k[K]
        if n == 0:
            raise ValueError(f"epoch {epoch} would hold no batch: {self.dataset.num_ids} identities are too few "
                             f"for batch_size_per_gpu={self.cfg.batch_size_per_gpu} on {self.world} ranks")
        cap = self.cfg.max_steps_per_epoch
        return min(n, cap) if cap > 0 else n

    def _loader(self, sampler: IdentityBatchSampler) -> DataLoader:
        nw = self.cfg.num_workers
        # the loader's own generator: drawing its base seed from the global RNG would shift the dropout /
        # drop-path draws of a run resumed mid-epoch against the uninterrupted one
        gen = torch.Generator().manual_seed(self.cfg.seed * 100_003 + sampler.epoch)
        return DataLoader(self.dataset, batch_sampler=sampler, collate_fn=CollateIdentityBatch(sampler.K),
                          num_workers=nw, pin_memory=self.device.type == "cuda", persistent_workers=False,
                          prefetch_factor=4 if nw > 0 else None, generator=gen)

    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("tensorboard=true but the tensorboard package is not installed; logging to JSONL only")
            return None
        return SummaryWriter(str(self.out / "tb"))

    # -- checkpoints
    def state(self) -> Dict[str, Any]:
        """Everything needed to continue exactly: weights, optimiser, scaler, center, position, RNG."""
        return {
            "student": self.student_module.state_dict(),
            "teacher": self.teacher.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else {},
            "center": self.criterion.center.detach().cpu(),
            "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "it": self.it,
            "failed_images": self.failed_images, "dropped_groups": self.dropped_groups,
            "monitor": {"runs": dict(self.monitor.runs), "warned": dict(self.monitor.warned)},
            "config": self.cfg.to_dict(), "world_size": self.world, "rng": rng_state(),
        }

    def save(self) -> None:
        """Atomic checkpoint from rank 0; it records the log's length, so a resume cuts what came after."""
        if self.is_main:
            self._log({"event": "checkpoint", "epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                       "it": self.it})
            state = self.state()
            state["log_bytes"] = (self.out / LOG_NAME).stat().st_size
            save_checkpoint(state, self.out / CHECKPOINT_NAME)
        if self.world > 1:
            dist.barrier()

    def _checkpoint_stamp(self) -> Optional[tuple]:
        """(size, mtime) of the folder's checkpoint, None without one: tells whether it changed meanwhile."""
        try:
            st = (self.out / CHECKPOINT_NAME).stat()
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime_ns

    def _existing_run(self, resume: bool, overwrite: bool) -> Optional[Dict[str, Any]]:
        """The checkpoint to resume from, or None to start afresh; refuses to replace a run by accident."""
        path = self.out / CHECKPOINT_NAME
        if not path.exists():
            if resume:
                log.warning("--resume: no checkpoint at %s yet; starting from scratch", path)
            return None  # a log without a checkpoint: a run killed before its first save, nothing to keep
        if overwrite:
            return None
        if not resume:
            raise RunDirError(f"{self.out} already holds a run ({path}); pass --resume to continue it, "
                              f"--overwrite to start over, or choose another output_dir")
        ck = load_checkpoint(path, map_location="cpu")  # RNG states must stay CPU tensors
        old, new = ck["config"], self.cfg.to_dict()
        changed = [k for k in new if k in old and old[k] != new[k] and k not in RESUME_MAY_CHANGE]
        if changed:
            diff = ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in changed)
            raise RunDirError(f"{path} was trained with another config ({diff}); resume with the same values, "
                              f"or start a new run (another output_dir, or --overwrite)")
        if old.get("epochs", new["epochs"]) != new["epochs"]:
            log.warning("resuming with epochs=%d instead of %d: the lr, weight-decay and momentum schedules "
                        "are recomputed over the new length", new["epochs"], old["epochs"])
        return ck

    def _resume(self, ck: Dict[str, Any]) -> None:
        path = self.out / CHECKPOINT_NAME
        self.student_module.load_state_dict(ck["student"])
        self.teacher.load_state_dict(ck["teacher"])
        self.optimizer.load_state_dict(ck["optimizer"])
        if self.scaler and ck["scaler"]:
            self.scaler.load_state_dict(ck["scaler"])
        self.criterion.center.copy_(ck["center"].to(self.device))
        if ck.get("world_size", 1) != self.world:
            log.warning("%s was written by a %d-process run, this one has %d: the batches from here on "
                        "differ from an uninterrupted run (the training itself is fine)",
                        path, ck.get("world_size", 1), self.world)
        self.epoch, self.step_in_epoch, self.it = ck["epoch"], ck["step_in_epoch"], ck["it"]
        self.failed_images, self.dropped_groups = ck["failed_images"], ck["dropped_groups"]
        if "monitor" in ck:
            self.monitor.runs, self.monitor.warned = dict(ck["monitor"]["runs"]), dict(ck["monitor"]["warned"])
        set_rng_state(ck["rng"])
        if self.is_main:
            truncate_log(self.out / LOG_NAME, ck.get("log_bytes"), self.it)
            log.info("resumed from %s at epoch %d, step %d", path, self.epoch, self.step_in_epoch)

    def _log(self, rec: Dict[str, Any]) -> None:
        with open(self.out / LOG_NAME, "a") as fh:
            fh.write(json.dumps(rec) + "\n")

    # -- one step
    def train_step(self, batch: Dict[str, Any], K: int) -> float:
        """Forward, loss, backward, clipped update, EMA teacher; returns the loss (mean over ranks)."""
        cfg, it = self.cfg, min(self.it, len(self.lr) - 1)
        for i, g in enumerate(self.optimizer.param_groups):
            g["lr"] = float(self.lr[it])
            if i == 0:
                g["weight_decay"] = float(self.wd[it])
        views = [normalize_views(v.to(self.device, non_blocking=True)) for v in batch["views"]]
        tau_t = float(self.teacher_temp[min(self.epoch, len(self.teacher_temp) - 1)])
        amp = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else nullcontext())
        with amp:
            with torch.no_grad():
                t_out, t_feats = self.teacher(views[:2], return_features=True)
            s_out = self.student(views)
            loss = self.criterion(s_out, t_out, K, teacher_temp=tau_t)
        value = _mean_across_ranks(loss.item(), self.device)
        if self.is_main:
            self.diag = step_diagnostics(value, self.criterion.last_teacher_probs, t_feats,
                                         self.criterion.center if cfg.centering == "ema" else None)
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"loss is {value} at epoch {self.epoch}, step {self.step_in_epoch} (iteration {self.it}); stopped. "
                f"The last good checkpoint is {self.out / CHECKPOINT_NAME} (unchanged). Lower lr, use "
                f"precision=fp32, or raise warmup_teacher_temp_epochs, then rerun with --resume.")
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if cfg.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.student_module.parameters(), cfg.clip_grad)
        if self.epoch < cfg.freeze_last_layer:
            for p in self.student_module.head.last_layer.parameters():
                p.grad = None
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        with torch.no_grad():
            m = float(self.momentum[it])
            s_params = list(self.student_module.parameters())
            t_params = list(self.teacher.parameters())
            torch._foreach_mul_(t_params, m)
            torch._foreach_add_(t_params, s_params, alpha=1 - m)
        return value

    def run_probe(self) -> Dict[str, float]:
        """Frozen teacher-backbone mAP on the held-out probe (BN rule applied to a copy)."""
        from .probe import frozen_map
        r = frozen_map(self.teacher.backbone, self.probe)
        return {"probe_mAP": round(r["mAP"], 6), "probe_rank1": round(r["rank1"], 6)}

    # -- the loop
    def fit(self) -> Dict[str, Any]:
        """Train from the current position to the last epoch; checkpoints, logs and a loss/lr PNG."""
        cfg = self.cfg
        total = sum(self.steps_per_epoch)
        bar = tqdm(total=total, initial=self.it, disable=not self.progress, unit="step", dynamic_ncols=True)
        logged_failures = 0
        try:
            while self.epoch < cfg.epochs:
                P, K = self._batch_layout(self.epoch)
                n_steps = self.steps_per_epoch[self.epoch]
                sampler = self._sampler(self.epoch, start_batch=self.step_in_epoch)
                t_last = time.perf_counter()
                for batch in self._loader(sampler):
                    if self.step_in_epoch >= n_steps:
                        break
                    if batch["failed"] or batch["dropped"]:
                        self.failed_images += len(batch["failed"])
                        self.dropped_groups += batch["dropped"]
                        for path in batch["failed"]:
                            if logged_failures < MAX_LOGGED_FAILURES:
                                log.warning("unreadable image skipped: %s", path)
                                logged_failures += 1
                    if batch["views"] is None:
                        raise RuntimeError(f"no image of the {P} identities in a batch could be read "
                                           f"(e.g. {batch['failed'][:2]}); check image_root={cfg.image_root}")
                    loss = self.train_step(batch, K)
                    self.it += 1
                    self.step_in_epoch += 1
                    now = time.perf_counter()
                    ips = len(batch["ids"]) * self.world / max(now - t_last, 1e-9)
                    t_last = now
                    if self.is_main:
                        rec = {"epoch": self.epoch, "step": self.step_in_epoch, "it": self.it, "loss": loss,
                               "lr": float(self.optimizer.param_groups[0]["lr"]),
                               "wd": float(self.optimizer.param_groups[0]["weight_decay"]),
                               "momentum": float(self.momentum[min(self.it - 1, len(self.momentum) - 1)]),
                               "K": K, "images_per_s": round(ips, 2), "failed_images": self.failed_images,
                               **{k: round(v, 6) for k, v in self.diag.items()}}
                        rec["ln_out_dim"] = round(math.log(cfg.out_dim), 6)
                        if self.probe is not None and cfg.probe_every and self.it % cfg.probe_every == 0:
                            rec.update(self.run_probe())
                        self._log(rec)
                        warning = self.monitor.update(self.diag, self.it)
                        if warning:
                            self._log({"event": "collapse_warning", "it": self.it, "message": warning})
                        if self._tb:
                            for k in ("loss", "lr", "wd", "momentum", "images_per_s", *self.diag, "probe_mAP"):
                                if k in rec:
                                    self._tb.add_scalar(k, rec[k], self.it)
                        bar.update(1)
                        bar.set_postfix(epoch=self.epoch, K=K, loss=f"{loss:.4f}", img_s=f"{ips:.1f}")
                    if cfg.save_every_steps and self.it % cfg.save_every_steps == 0 and self.step_in_epoch < n_steps:
                        self.save()
                self.epoch += 1
                self.step_in_epoch = 0
                if self.epoch == cfg.epochs and self.probe is not None and self.is_main \
                        and not (cfg.probe_every and self.it % cfg.probe_every == 0):
                    # before the last checkpoint, so a resume of the finished run does not log it again
                    self._log({"event": "probe", "it": self.it, **self.run_probe()})
                self.save()
        finally:
            bar.close()
            if self.is_main:
                plot_log(self.out / LOG_NAME, self.out / "loss_lr.png")
        if self.failed_images and self.is_main:
            log.warning("%d unreadable images were skipped (%d identity groups dropped); see %s",
                        self.failed_images, self.dropped_groups, self.out / LOG_NAME)
        return {"epochs": self.epoch, "iterations": self.it, "failed_images": self.failed_images,
                "checkpoint": str(self.out / CHECKPOINT_NAME)}


def plot_log(log_path: Path, png: Path) -> Optional[Path]:
    """Loss (with ln D) and learning rate, and below them the collapse diagnostics, from the JSONL log."""
    lines = Path(log_path).read_text().splitlines() if log_path.exists() else []
    recs = [json.loads(x) for x in lines if x.strip()]
    probes = [r for r in recs if "probe_mAP" in r]
    recs = [r for r in recs if "loss" in r]
    if not recs:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    its = [r["it"] for r in recs]
    has_diag = "teacher_entropy_ratio" in recs[-1]
    fig, axes = plt.subplots(2 if has_diag else 1, 1, figsize=(7, 6 if has_diag else 3.5), sharex=True,
                             squeeze=False)
    ax = axes[0, 0]
    ax.plot(its, [r["loss"] for r in recs], color="tab:blue", lw=1, label="loss")
    if "ln_out_dim" in recs[-1]:
        ax.axhline(recs[-1]["ln_out_dim"], color="tab:blue", ls="--", lw=0.8, label="ln(out_dim): uniform")
        ax.legend(loc="lower left", fontsize=8)
    ax.set_ylabel("loss", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(its, [r["lr"] for r in recs], color="tab:orange", lw=1)
    ax2.set_ylabel("learning rate", color="tab:orange")
    ax.set_title("CION pre-training")
    if has_diag:
        ax = axes[1, 0]
        ax.plot(its, [r["teacher_entropy_ratio"] for r in recs], lw=1, label="teacher entropy / ln D")
        ax.plot(its, [r["feature_cosine"] for r in recs], lw=1, label="feature cosine (batch)")
        ax.plot(its, [r["teacher_top_share"] for r in recs], lw=1, label="top-target share")
        if probes:
            ax.plot([r["it"] for r in probes], [r["probe_mAP"] for r in probes], "o-", lw=1,
                    label="probe mAP (BN rule)")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("collapse diagnostics")
        ax.legend(loc="lower left", fontsize=8)
    axes[-1, 0].set_xlabel("iteration")
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return png


def truncate_log(path: Path, size: Optional[int], it: int) -> None:
    """Cut a log back to what it held at a checkpoint: `size` bytes, or (older checkpoints) the lines up to
    iteration `it`; a line a kill cut in half goes too."""
    if not path.exists():
        return
    if size is not None:
        if path.stat().st_size > size:
            os.truncate(path, size)
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("it", 0) <= it:
                kept.append(line)
        except ValueError:
            pass
    path.write_text("".join(x + "\n" for x in kept))


def pretrain(cfg: PretrainConfig, resume: bool = False, progress: bool = True,
             overwrite: bool = False) -> Dict[str, Any]:
    """Run (or resume) a pre-training from a config; returns a summary dict.

    An output_dir that holds a checkpoint is refused unless `resume` (continue it exactly) or `overwrite`
    (start over); a folder another run is writing to is refused too.
    """
    trainer = None
    try:
        trainer = Pretrainer(cfg, resume=resume, progress=progress, overwrite=overwrite)
        return trainer.fit()
    finally:
        if trainer is not None:
            trainer.close()
        if dist.is_initialized():
            dist.destroy_process_group()
