"""Multi-GPU training under torchrun: DDP when the model fits one GPU,
FSDP (full sharding, bf16 mixed precision) when it does not. Without
torchrun (WORLD_SIZE unset) everything here is a no-op."""

import os

import torch
import torch.distributed as torchdist


class Dist:
    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.on = self.world > 1

    def init(self, device_type):
        if not self.on:
            return
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(self.local_rank)
        torchdist.init_process_group(backend)

    @property
    def main(self):
        return self.rank == 0

    def device(self, want):
        if want.type == "cuda" and self.on:
            return torch.device("cuda", self.local_rank)
        return want

    def all_sum(self, value, device):
        """The sum over ranks of a number."""
        if not self.on:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64, device=device)
        torchdist.all_reduce(t)
        return float(t.item())

    def any(self, flag, device):
        """Whether any rank's flag is set (a stop decision all ranks share)."""
        if not self.on:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        torchdist.all_reduce(t, op=torchdist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def barrier(self):
        if self.on:
            torchdist.barrier()

    def close(self):
        if self.on and torchdist.is_initialized():
            torchdist.destroy_process_group()


def wrap(objective, dist, device, fsdp, bf16, layer_classes):
    """Wraps the training objective for the ranks: DDP or FSDP."""
    if not dist.on:
        return objective
    if not fsdp:
        from torch.nn.parallel import DistributedDataParallel as DDP
        ids = [device.index] if device.type == "cuda" else None
        return DDP(objective, device_ids=ids)
    import functools
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
    policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls=set(layer_classes))
    mp = MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.float32, buffer_dtype=torch.float32) if bf16 else None
    kw = {"use_orig_params": True} if "use_orig_params" in FSDP.__init__.__code__.co_varnames else {}
    return FSDP(objective, auto_wrap_policy=policy, mixed_precision=mp, sharding_strategy=ShardingStrategy.FULL_SHARD,
                device_id=device, **kw)


def full_state(wrapped, dist):
    """The whole model's state on rank 0's CPU (FSDP gathers it), or None on
    other ranks; the plain module's state without FSDP."""
    if type(wrapped).__name__ != "FullyShardedDataParallel":
        return None  # (importing FSDP fails on some builds: only when it is used)
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    if isinstance(wrapped, FSDP):
        from torch.distributed.fsdp import FullStateDictConfig, StateDictType
        cfg = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
        with FSDP.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT, cfg):
            sd = wrapped.state_dict()
        return sd if dist.main else None
    return None
