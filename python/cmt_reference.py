"""A PyTorch reference of CMT, written from ../shared/CMT-SPEC.md.

It uses the official state-dict names, so it loads the same checkpoints as the
compiled executables (and the checkpoints they write). Runs on Debian's
python3-torch (/usr/bin/python3). Also a small safetensors reader/writer, since
the `safetensors` package is not in Debian.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- safetensors
_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
           "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def load_safetensors(path):
    """Returns ({name: torch.Tensor}, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = info["dtype"]
        if dt == "BF16":
            u16 = np.frombuffer(raw, dtype=np.uint16, count=(e - b) // 2, offset=base + b)
            arr = (u16.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=_DTYPES[dt], count=(e - b) // np.dtype(_DTYPES[dt]).itemsize,
                                offset=base + b)
        out[name] = torch.from_numpy(arr.copy().reshape(info["shape"]))
    return out, meta


def save_safetensors(path, tensors, metadata=None):
    inv = {np.dtype(v): k for k, v in _DTYPES.items()}
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        # ascontiguousarray turns a 0-d array into a 1-d one: keep the shape.
        a = np.ascontiguousarray(t.detach().cpu().numpy()).reshape(tuple(t.shape))
        header[name] = {"dtype": inv[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---------------------------------------------------------------------- model
class Config:
    def __init__(self, resolution, dims, depths, heads=(1, 2, 4, 8), reductions=(8, 4, 2, 1),
                 mlp_ratio=3.6, stem=16, fc_dim=1280, classes=1000, dropout=0.1, in_channels=3):
        self.resolution, self.dims, self.depths = resolution, list(dims), list(depths)
        self.heads, self.reductions = list(heads), list(reductions)
        self.mlp_ratio = mlp_ratio if isinstance(mlp_ratio, (list, tuple)) else [mlp_ratio] * 4
        self.stem, self.fc_dim, self.classes = stem, fc_dim, classes
        self.dropout, self.in_channels = dropout, in_channels


VARIANTS = {
    "cmt-ti": Config(160, (46, 92, 184, 368), (2, 2, 10, 2), mlp_ratio=3.6, stem=16),
    "cmt-xs": Config(192, (52, 104, 208, 416), (3, 3, 12, 3), mlp_ratio=3.77, stem=16),
    "cmt-s": Config(224, (64, 128, 256, 512), (3, 3, 16, 3), mlp_ratio=4.0, stem=32),
    "cmt-b": Config(256, (76, 152, 304, 608), (4, 4, 20, 4), mlp_ratio=4.0, stem=38, dropout=0.3),
    "cmt-micro": Config(64, (16, 32, 64, 128), (1, 1, 2, 1), mlp_ratio=3.6, stem=8, fc_dim=96, classes=10),
}


class Attention(nn.Module):
    def __init__(self, dim, heads, r):
        super().__init__()
        self.heads, self.r = heads, r
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        if r > 1:
            self.sr = nn.Sequential(nn.Conv2d(dim, dim, r, r, groups=dim), nn.BatchNorm2d(dim))

    def forward(self, u, H, W, pos):
        B, N, C = u.shape
        h = self.heads
        q = self.q(u).reshape(B, N, h, C // h).permute(0, 2, 1, 3)
        if self.r > 1:
            x = u.permute(0, 2, 1).reshape(B, C, H, W)
            u = self.sr(x).reshape(B, C, -1).permute(0, 2, 1)
        k = self.k(u).reshape(B, -1, h, C // h).permute(0, 2, 1, 3)
        v = self.v(u).reshape(B, -1, h, C // h).permute(0, 2, 1, 3)
        a = (q @ k.transpose(-2, -1)) * self.scale + pos
        a = a.softmax(dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(B, N, C))


class IRFFN(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.BatchNorm2d(hidden))
        self.proj = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden)
        self.proj_act = nn.GELU()
        self.proj_bn = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Sequential(nn.Conv2d(hidden, dim, 1), nn.BatchNorm2d(dim))

    def forward(self, u, H, W):
        B, N, C = u.shape
        x = u.permute(0, 2, 1).reshape(B, C, H, W)
        x = self.conv1(x)
        x = self.proj_bn(self.proj_act(self.proj(x) + x))
        x = self.conv2(x)
        return x.flatten(2).permute(0, 2, 1)


class Block(nn.Module):
    def __init__(self, dim, heads, r, mlp_ratio, drop_path=0.0):
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, r)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = IRFFN(dim, int(dim * mlp_ratio))
        self.drop_path = drop_path

    def _dp(self, x):
        if not self.training or self.drop_path == 0.0:
            return x
        keep = 1 - self.drop_path
        mask = x.new_empty(x.shape[0], 1, 1).bernoulli_(keep)
        return x * mask / keep

    def forward(self, t, H, W, pos):
        B, N, C = t.shape
        x = t.permute(0, 2, 1).reshape(B, C, H, W)
        t = t + self.proj(x).flatten(2).permute(0, 2, 1)
        t = t + self._dp(self.attn(self.norm1(t), H, W, pos))
        t = t + self._dp(self.mlp(self.norm2(t), H, W))
        return t


class PatchEmbed(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, 2, 2)
        self.norm = nn.LayerNorm(dim)  # eps 1e-5

    def forward(self, x):
        x = self.proj(x)
        B, C, H, W = x.shape
        return self.norm(x.flatten(2).transpose(1, 2)), H, W


class CMT(nn.Module):
    def __init__(self, cfg: Config, drop_path=0.0):
        super().__init__()
        self.cfg = cfg
        S = cfg.stem
        self.stem_conv1 = nn.Conv2d(cfg.in_channels, S, 3, 2, 1)
        self.stem_relu1 = nn.GELU()
        self.stem_norm1 = nn.BatchNorm2d(S)
        self.stem_conv2 = nn.Conv2d(S, S, 3, 1, 1)
        self.stem_relu2 = nn.GELU()
        self.stem_norm2 = nn.BatchNorm2d(S)
        self.stem_conv3 = nn.Conv2d(S, S, 3, 1, 1)
        self.stem_relu3 = nn.GELU()
        self.stem_norm3 = nn.BatchNorm2d(S)
        total = sum(cfg.depths)
        rates = [x.item() for x in torch.linspace(0, drop_path, total)] if total > 1 else [drop_path]
        cin, side, k = S, cfg.resolution // 2, 0
        for i, s in enumerate("abcd"):
            side //= 2
            n, r, d = side * side, cfg.reductions[i], cfg.dims[i]
            setattr(self, f"patch_embed_{s}", PatchEmbed(cin, d))
            setattr(self, f"relative_pos_{s}", nn.Parameter(torch.randn(cfg.heads[i], n, n // (r * r))))
            blocks = []
            for _ in range(cfg.depths[i]):
                blocks.append(Block(d, cfg.heads[i], r, cfg.mlp_ratio[i], rates[k]))
                k += 1
            setattr(self, f"blocks_{s}", nn.ModuleList(blocks))
            cin = d
        self._fc = nn.Conv2d(cin, cfg.fc_dim, 1)
        self._bn = nn.BatchNorm2d(cfg.fc_dim)
        self._drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.fc_dim, cfg.classes)

    def forward(self, x, acts=None):
        for i in (1, 2, 3):
            x = getattr(self, f"stem_norm{i}")(getattr(self, f"stem_relu{i}")(getattr(self, f"stem_conv{i}")(x)))
        if acts is not None:
            acts["act/stem"] = x
        for i, s in enumerate("abcd"):
            t, H, W = getattr(self, f"patch_embed_{s}")(x)
            pos = getattr(self, f"relative_pos_{s}")
            for blk in getattr(self, f"blocks_{s}"):
                t = blk(t, H, W, pos)
            if acts is not None:
                acts[f"act/stage{i + 1}"] = t
            x = t.transpose(1, 2).reshape(t.shape[0], -1, H, W)
        x = self._bn(self._fc(x))
        x = x * torch.sigmoid(x)
        f = x.mean(dim=(2, 3))
        if acts is not None:
            acts["act/features"] = f
        return self.head(self._drop(f))


def config_from_state_dict(sd, resolution=None):
    """Infers the configuration from official tensor names and shapes."""
    stem = sd["stem_conv1.weight"].shape[0]
    dims, depths, heads, reds, ratios = [], [], [], [], []
    for s in "abcd":
        d = sd[f"patch_embed_{s}.proj.weight"].shape[0]
        dims.append(d)
        depths.append(len({k.split(".")[1] for k in sd if k.startswith(f"blocks_{s}.")}))
        h, n, m = sd[f"relative_pos_{s}"].shape
        heads.append(h)
        reds.append(int(round(math.sqrt(n / m))))
        ratios.append(sd[f"blocks_{s}.0.mlp.conv1.0.weight"].shape[0] / d)
    n_a = sd["relative_pos_a"].shape[1]
    res = resolution or int(round(math.sqrt(n_a))) * 4
    return Config(res, dims, depths, heads, reds, [(e + 0.5) / d for e, d in
                  zip([sd[f"blocks_{s}.0.mlp.conv1.0.weight"].shape[0] for s in "abcd"], dims)],
                  stem, sd["_fc.weight"].shape[0], sd["head.weight"].shape[0],
                  in_channels=sd["stem_conv1.weight"].shape[1])


def load_model(weights_path):
    """Weights or a training checkpoint (whose optimizer/ and train/ state is not the model's)."""
    sd, meta = load_safetensors(weights_path)
    sd = {k: v for k, v in sd.items() if not k.startswith(("optimizer/", "train/"))}
    cfg = config_from_state_dict(sd)
    model = CMT(cfg)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    return model.eval(), meta
