# The PyTorch FlexAttention peer for flexattn-bench --peer torch.
# Reads cases as JSON on stdin, times torch.compile(flex_attention) on the same shapes and mods
# (defined exactly as in ../shared/anchors/torch_anchors.py, with flexattn's document ids), and
# prints one JSON object on stdout: {"info": ..., "results": [{"id", "fwd_ms", "fwdbwd_ms"}]}.
# Ragged decode cases (decode-paged) run through PyTorch's PagedAttention (run_ragged).
import inspect, json, sys
import torch
from torch.nn.attention.flex_attention import flex_attention, create_block_mask
from triton.testing import do_bench

torch._dynamo.config.recompile_limit = 1000
torch._dynamo.config.accumulated_recompile_limit = 100000
dev = "cuda"
flex = torch.compile(flex_attention, dynamic=False)
DT = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}

def mods(c):
    H, L = c["Hq"], c["Lkv"]
    slopes = torch.exp2(-((torch.arange(H, device=dev) + 1) * 8.0 / H))
    doc = torch.tensor(c.get("docIds") or [0], device=dev, dtype=torch.int32)
    P = L // 4
    table = {
        "noop": (None, None),
        "causal": (None, lambda b, h, q, kv: q >= kv),
        "alibi": (lambda s, b, h, q, kv: s + slopes[h] * (kv - q), None),
        "softcap": (lambda s, b, h, q, kv: torch.tanh(s / 20) * 20, None),
        "softcap_approx": (lambda s, b, h, q, kv: torch.tanh(s / 20) * 20, None),
        "relpos": (lambda s, b, h, q, kv: s + (q - kv), None),
        "sliding_window_causal": (None, lambda b, h, q, kv: (q >= kv) & (q - kv <= 1024)),
        "prefix_lm": (None, lambda b, h, q, kv: (kv <= P) | (q >= kv)),
        "document": (None, lambda b, h, q, kv: doc[q] == doc[kv]),
        "softcap_causal": (lambda s, b, h, q, kv: torch.tanh(s / 20) * 20, lambda b, h, q, kv: q >= kv),
    }
    return table[c["mod"]]

def run_ragged(c):
    """decode-paged: one query token per sequence over K/V of different lengths, stored like
    flexattn's case (src/ragged.ts): in torch.nn.attention.experimental._paged_attention's
    PagedAttention (pages reserved in four interleaved rounds, so each sequence's pages scatter;
    the logical length mask converted with convert_logical_block_mask) or contiguously
    [B, Hkv, Lmax, D] with the same length mask. Forward only: paged attention is for inference."""
    dt = DT[c["dtype"]]
    lens = c["lengths"]
    B, Lmax, ps = len(lens), max(lens), c.get("pageSize") or 128
    Hq, Hkv, E, Ev = c["Hq"], c["Hkv"], c["E"], c["Ev"]
    lens_t = torch.tensor(lens, device=dev, dtype=torch.int64)

    def length_mask(b, h, q_idx, kv_idx):
        return kv_idx < lens_t[b]

    logical = create_block_mask(length_mask, B, None, 1, Lmax, device=dev, BLOCK_SIZE=ps)
    q = torch.randn(B, Hq, 1, E, device=dev, dtype=dt)
    seq_k = [torch.randn(1, Hkv, L, E, device=dev, dtype=dt) for L in lens]
    seq_v = [torch.randn(1, Hkv, L, Ev, device=dev, dtype=dt) for L in lens]
    if c.get("layout") == "paged":
        from torch.nn.attention.experimental._paged_attention import PagedAttention
        n_pages = sum((L + ps - 1) // ps for L in lens)
        pa = PagedAttention(n_pages, ps, B, device=dev)
        for r in range(1, 5):
            for b, L in enumerate(lens):
                pa.reserve(torch.tensor(b, device=dev), torch.tensor((L * r + 3) // 4, device=dev))
        k = torch.zeros(1, Hkv, n_pages * ps, E, device=dev, dtype=dt)
        v = torch.zeros(1, Hkv, n_pages * ps, Ev, device=dev, dtype=dt)
        for b, L in enumerate(lens):
            pos = torch.arange(L, device=dev, dtype=torch.int32).unsqueeze(0)
            pa.assign(torch.tensor([b], device=dev), pos, seq_k[b], seq_v[b], k, v)
        # Newer PyTorch takes the per-sequence kv lengths here; older versions use the reserved ones.
        extra = {"kv_len": lens_t} if "kv_len" in inspect.signature(pa.convert_logical_block_mask).parameters else {}
        bm = pa.convert_logical_block_mask(logical, **extra)
    else:
        k = torch.zeros(B, Hkv, Lmax, E, device=dev, dtype=dt)
        v = torch.zeros(B, Hkv, Lmax, Ev, device=dev, dtype=dt)
        for b, L in enumerate(lens):
            k[b, :, :L] = seq_k[b][0]
            v[b, :, :L] = seq_v[b][0]
        bm = logical
    f = lambda: flex(q, k, v, block_mask=bm, enable_gqa=Hq != Hkv)
    f()
    return {"id": c["id"], "fwd_ms": do_bench(f, warmup=25, rep=100, return_mode="median")}

def run(c):
    if c.get("lengths"):
        return run_ragged(c)
    sm, mm = mods(c)
    dt = DT[c["dtype"]]
    q = torch.randn(c["B"], c["Hq"], c["Lq"], c["E"], device=dev, dtype=dt, requires_grad=True)
    k = torch.randn(c["B"], c["Hkv"], c["Lkv"], c["E"], device=dev, dtype=dt, requires_grad=True)
    v = torch.randn(c["B"], c["Hkv"], c["Lkv"], c["Ev"], device=dev, dtype=dt, requires_grad=True)
    bm = create_block_mask(mm, None, None, c["Lq"], c["Lkv"], device=dev) if mm else None
    gqa = c["Hq"] != c["Hkv"]
    f = lambda: flex(q, k, v, score_mod=sm, block_mask=bm, enable_gqa=gqa)
    r = {"id": c["id"]}
    f()
    r["fwd_ms"] = do_bench(f, warmup=25, rep=100, return_mode="median")
    if c.get("pass", "fwd") != "fwd":
        dout = torch.randn(c["B"], c["Hq"], c["Lq"], c["Ev"], device=dev, dtype=dt)
        def fb():
            flex(q, k, v, score_mod=sm, block_mask=bm, enable_gqa=gqa).backward(dout)
        fb()
        r["fwdbwd_ms"] = do_bench(fb, warmup=10, rep=100, grad_to_none=[q, k, v], return_mode="median")
    return r

cases = json.load(sys.stdin)
out = {"info": f"torch {torch.__version__} on {torch.cuda.get_device_name()}", "results": []}
for c in cases:
    try:
        out["results"].append(run(c))
    except Exception as e:  # report and go on: one unsupported case must not hide the others
        out["results"].append({"id": c["id"], "error": str(e)[:300]})
    print(json.dumps(out["results"][-1]), file=sys.stderr, flush=True)
print(json.dumps(out))
