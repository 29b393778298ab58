#!/usr/bin/env python3
"""PyTorch peer of bench/gpu.ts: the same Flux transformer (diffusers'
FluxTransformer2DModel structure and parameter names, written here in plain
torch so diffusers is not required), the same safetensors weights and inputs,
timed on cuda:0 for the variants bench/gpu.ts asks for.

  bf16                    resident bf16
  fp8dqrow / int8wo       torchao (float8_dynamic_activation_float8_weight(PerRow()) / int8_weight_only)
  bf16+fp8-layerwise      diffusers' apply_layerwise_casting (storage fp8, compute bf16)
  offload-*-stream        diffusers' apply_group_offloading (block_level N=1 / leaf_level, use_stream)

Variants whose library (torchao, diffusers) is missing are reported as skipped.
Writes --out JSON: {"torch": version, "rows": [{variant, medianMs, runsMs,
peakAllocatedGiB, peakReservedGiB, outputFile | skipped}]}; the bf16 output
goes to a raw float32 file for bench/gpu.ts to compare with vramlab's.
"""
import argparse
import glob
import json
import math
import os
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

GiB = 1024 ** 3
DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


def read_safetensors(path):
    """Tensors of one .safetensors file (minimal reader: JSON header + raw little-endian data)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in DTYPES:
            raise ValueError(f"{path}: {name} has dtype {info['dtype']}; the bench writes BF16/F32 only")
        a, b = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[info["dtype"]]) if b > a else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


# ---- the model (diffusers' FluxTransformer2DModel, inference path) -----------------------------

def timestep_embedding(t, dim=256, max_period=10000):
    # diffusers get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0, scale=1)
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    return torch.cat([emb[:, half:], emb[:, :half]], dim=-1)


class MLPEmbed(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class TimeTextEmbed(nn.Module):
    def __init__(self, dim, pooled_dim, guidance):
        super().__init__()
        self.timestep_embedder = MLPEmbed(256, dim)
        self.guidance_embedder = MLPEmbed(256, dim) if guidance else None
        self.text_embedder = MLPEmbed(pooled_dim, dim)

    def forward(self, timestep, guidance, pooled):
        t = self.timestep_embedder(timestep_embedding(timestep).to(pooled.dtype))
        if self.guidance_embedder is not None:
            t = t + self.guidance_embedder(timestep_embedding(guidance).to(pooled.dtype))
        return t + self.text_embedder(pooled)


def rope_tables(ids, axes_dim, theta=10000.0):
    # FluxPosEmbed: per axis, cos/sin of pos * theta^(-2i/d), each frequency repeated twice (interleaved)
    cos, sin = [], []
    pos = ids.double()
    for i, d in enumerate(axes_dim):
        freqs = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64, device=ids.device) / d))
        ang = pos[:, i:i + 1] * freqs[None, :]
        cos.append(torch.cos(ang).repeat_interleave(2, dim=1))
        sin.append(torch.sin(ang).repeat_interleave(2, dim=1))
    return torch.cat(cos, dim=-1).float(), torch.cat(sin, dim=-1).float()


def apply_rope(x, cos, sin):
    # x [B, H, S, D]; pairs (2i, 2i+1): out = x*cos + rotate(x)*sin, rotate = (-x1, x0)
    x_real, x_imag = x.reshape(*x.shape[:-1], -1, 2).unbind(-1)
    rot = torch.stack([-x_imag, x_real], dim=-1).flatten(3)
    return (x.float() * cos + rot.float() * sin).to(x.dtype)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        var = x.float().pow(2).mean(-1, keepdim=True)
        x = x * torch.rsqrt(var + self.eps)
        return x.to(self.weight.dtype) * self.weight if self.weight.dtype in (torch.float16, torch.bfloat16) else (x * self.weight).to(dtype)


class Attention(nn.Module):
    def __init__(self, dim, heads, head_dim, context=False, pre_only=False):
        super().__init__()
        self.heads = heads
        self.to_q, self.to_k, self.to_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.norm_q, self.norm_k = RMSNorm(head_dim), RMSNorm(head_dim)
        if not pre_only:
            self.to_out = nn.ModuleList([nn.Linear(dim, dim)])
        if context:
            self.add_q_proj, self.add_k_proj, self.add_v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
            self.norm_added_q, self.norm_added_k = RMSNorm(head_dim), RMSNorm(head_dim)
            self.to_add_out = nn.Linear(dim, dim)
        self.context = context
        self.pre_only = pre_only

    def heads_of(self, x):
        b, s, _ = x.shape
        return x.view(b, s, self.heads, -1).transpose(1, 2)

    def forward(self, x, cos, sin, ctx=None):
        q, k, v = self.heads_of(self.to_q(x)), self.heads_of(self.to_k(x)), self.heads_of(self.to_v(x))
        q, k = self.norm_q(q), self.norm_k(k)
        if ctx is not None:
            cq, ck, cv = self.heads_of(self.add_q_proj(ctx)), self.heads_of(self.add_k_proj(ctx)), self.heads_of(self.add_v_proj(ctx))
            cq, ck = self.norm_added_q(cq), self.norm_added_k(ck)
            q, k, v = torch.cat([cq, q], 2), torch.cat([ck, k], 2), torch.cat([cv, v], 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        o = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2).to(q.dtype)
        if ctx is not None:
            n = ctx.shape[1]
            c, o = o[:, :n], o[:, n:]
            return self.to_out[0](o), self.to_add_out(c)
        return o


class AdaNormZero(nn.Module):
    def __init__(self, dim, chunks):
        super().__init__()
        self.linear = nn.Linear(dim, chunks * dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([nn.Module(), nn.Identity(), nn.Linear(4 * dim, dim)])
        self.net[0].proj = nn.Linear(dim, 4 * dim)

    def forward(self, x):
        return self.net[2](F.gelu(self.net[0].proj(x), approximate="tanh"))


class DoubleBlock(nn.Module):
    def __init__(self, dim, heads, head_dim):
        super().__init__()
        self.norm1, self.norm1_context = AdaNormZero(dim, 6), AdaNormZero(dim, 6)
        self.attn = Attention(dim, heads, head_dim, context=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.norm2_context = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff, self.ff_context = FeedForward(dim), FeedForward(dim)

    def forward(self, x, ctx, temb, cos, sin):
        sm, cm, gm, sf, cf, gf = self.norm1.linear(F.silu(temb)).chunk(6, dim=1)
        csm, ccm, cgm, csf, ccf, cgf = self.norm1_context.linear(F.silu(temb)).chunk(6, dim=1)
        nx = self.norm1.norm(x) * (1 + cm[:, None]) + sm[:, None]
        nc = self.norm1_context.norm(ctx) * (1 + ccm[:, None]) + csm[:, None]
        a, ca = self.attn(nx, cos, sin, nc)
        x = x + gm[:, None] * a
        x = x + gf[:, None] * self.ff(self.norm2(x) * (1 + cf[:, None]) + sf[:, None])
        ctx = ctx + cgm[:, None] * ca
        ctx = ctx + cgf[:, None] * self.ff_context(self.norm2_context(ctx) * (1 + ccf[:, None]) + csf[:, None])
        if ctx.dtype == torch.float16:
            ctx = ctx.clip(-65504, 65504)
        return ctx, x


class SingleBlock(nn.Module):
    def __init__(self, dim, heads, head_dim):
        super().__init__()
        self.norm = AdaNormZero(dim, 3)
        self.proj_mlp = nn.Linear(dim, 4 * dim)
        self.attn = Attention(dim, heads, head_dim, pre_only=True)
        self.proj_out = nn.Linear(5 * dim, dim)

    def forward(self, x, temb, cos, sin):
        shift, scale, gate = self.norm.linear(F.silu(temb)).chunk(3, dim=1)
        nx = self.norm.norm(x) * (1 + scale[:, None]) + shift[:, None]
        mlp = F.gelu(self.proj_mlp(nx), approximate="tanh")
        a = self.attn(nx, cos, sin)
        out = x + gate[:, None] * self.proj_out(torch.cat([a, mlp], dim=2))
        if out.dtype == torch.float16:
            out = out.clip(-65504, 65504)
        return out


class NormOut(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.linear = nn.Linear(dim, 2 * dim)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)


class Flux(nn.Module):
    def __init__(self, c):
        super().__init__()
        heads, hd = c["num_attention_heads"], c["attention_head_dim"]
        dim = heads * hd
        self.axes = c["axes_dims_rope"]
        out_ch = c.get("out_channels") or c["in_channels"]
        self.x_embedder = nn.Linear(c["in_channels"], dim)
        self.context_embedder = nn.Linear(c["joint_attention_dim"], dim)
        self.time_text_embed = TimeTextEmbed(dim, c["pooled_projection_dim"], c.get("guidance_embeds", False))
        self.transformer_blocks = nn.ModuleList([DoubleBlock(dim, heads, hd) for _ in range(c["num_layers"])])
        self.single_transformer_blocks = nn.ModuleList([SingleBlock(dim, heads, hd) for _ in range(c["num_single_layers"])])
        self.norm_out = NormOut(dim)
        self.proj_out = nn.Linear(dim, c.get("patch_size", 1) ** 2 * out_ch)

    def forward(self, hidden_states, encoder_hidden_states, pooled_projections, timestep, img_ids, txt_ids, guidance=None):
        x = self.x_embedder(hidden_states)
        t = timestep.to(x.dtype) * 1000
        g = guidance.to(x.dtype) * 1000 if guidance is not None else None
        temb = self.time_text_embed(t, g, pooled_projections)
        ctx = self.context_embedder(encoder_hidden_states)
        cos, sin = rope_tables(torch.cat([txt_ids, img_ids], 0), self.axes)
        for b in self.transformer_blocks:
            ctx, x = b(x, ctx, temb, cos, sin)
        x = torch.cat([ctx, x], 1)
        for b in self.single_transformer_blocks:
            x = b(x, temb, cos, sin)
        x = x[:, ctx.shape[1]:]
        scale, shift = self.norm_out.linear(F.silu(temb).to(x.dtype)).chunk(2, dim=1)
        x = self.norm_out.norm(x) * (1 + scale)[:, None, :] + shift[:, None, :]
        return self.proj_out(x)


def load_model(weights):
    with open(os.path.join(weights, "config.json")) as f:
        config = json.load(f)
    with torch.device("meta"):
        model = Flux(config)
    state = {}
    for path in sorted(glob.glob(os.path.join(weights, "*.safetensors"))):
        if os.path.basename(path).startswith("inputs-"):
            continue
        state.update(read_safetensors(path))
    model.load_state_dict(state, strict=True, assign=True)
    return model.to(torch.bfloat16).eval()


def run_variant(variant, args, inputs_cpu):
    torch.cuda.empty_cache()
    model = load_model(args.weights)
    dev = torch.device("cuda:0")
    note = None
    if variant.startswith("offload"):
        try:
            from diffusers.hooks import apply_group_offloading
        except ImportError as e:
            return {"variant": variant, "skipped": f"diffusers not installed ({e})"}
        kw = {"offload_type": "block_level", "num_blocks_per_group": 1} if "block1" in variant else {"offload_type": "leaf_level"}
        apply_group_offloading(model, onload_device=dev, offload_device=torch.device("cpu"), use_stream=True, **kw)
    else:
        model = model.to(dev)
        if variant in ("fp8dqrow", "int8wo"):
            try:
                import torchao.quantization as tq
                if variant == "fp8dqrow":
                    make = getattr(tq, "Float8DynamicActivationFloat8WeightConfig", None) or tq.float8_dynamic_activation_float8_weight
                    tq.quantize_(model, make(granularity=tq.PerRow()))
                else:
                    make = getattr(tq, "Int8WeightOnlyConfig", None) or tq.int8_weight_only
                    tq.quantize_(model, make())
            except (ImportError, AttributeError) as e:
                return {"variant": variant, "skipped": f"torchao not installed or too old ({e})"}
        if variant == "bf16+fp8-layerwise":
            try:
                from diffusers.hooks import apply_layerwise_casting
            except ImportError as e:
                return {"variant": variant, "skipped": f"diffusers not installed ({e})"}
            apply_layerwise_casting(model, storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
    inputs = {k: v.to(dev) for k, v in inputs_cpu.items()}
    times, output = [], None
    with torch.inference_mode():
        for r in range(1 + args.runs):
            if r == 1:
                torch.cuda.reset_peak_memory_stats(dev)
            torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            out = model(**inputs)
            torch.cuda.synchronize(dev)
            ms = (time.perf_counter() - t0) * 1000
            if r == 0:
                output = out.float().cpu()
            else:
                times.append(ms)
    row = {
        "variant": variant,
        "medianMs": round(statistics.median(times), 1),
        "runsMs": [round(t, 1) for t in times],
        "peakAllocatedGiB": round(torch.cuda.max_memory_allocated(dev) / GiB, 2),
        "peakReservedGiB": round(torch.cuda.max_memory_reserved(dev) / GiB, 2),
    }
    out_file = os.path.join(args.weights, f"torch-output-{variant}.f32")
    output.contiguous().numpy().tofile(out_file)
    row["outputFile"] = out_file
    if note:
        row["note"] = note
    del model
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights", required=True, help="folder with config.json and the safetensors weights (bench/gpu.ts writes it)")
    p.add_argument("--inputs", required=True, help="inputs safetensors written by bench/gpu.ts")
    p.add_argument("--out", required=True, help="results JSON")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--variants", default="bf16")
    args = p.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_torch.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    raw = read_safetensors(args.inputs)
    names = {"hiddenStates": "hidden_states", "encoderHiddenStates": "encoder_hidden_states", "pooledProjections": "pooled_projections",
             "timestep": "timestep", "guidance": "guidance", "imgIds": "img_ids", "txtIds": "txt_ids"}
    inputs = {names[k]: v for k, v in raw.items() if k in names}
    rows = []
    for v in [s.strip() for s in args.variants.split(",") if s.strip()]:
        print(f"torch {v} ...", flush=True)
        rows.append(run_variant(v, args, inputs))
    with open(args.out, "w") as f:
        json.dump({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
