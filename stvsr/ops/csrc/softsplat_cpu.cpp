// Softmax splatting (Niklaus & Liu, CVPR 2020) on the CPU: the forward splat with its weighting
// and normalisation fused into one op, and its hand-written backward.
//
// Built on first use by stvsr/ops/_cpp_softsplat.py with torch.utils.cpp_extension.load and
// registered as torch.ops.stvsr_softsplat.{forward,backward}.  Same math as the PyTorch path of
// stvsr/ops/softsplat.py (and the authors' CUDA kernel): source pixel (y, x) goes to
// (y + flow[1], x + flow[0]), rounded once in the compute dtype, and is spread bilinearly onto the
// four integer neighbours of that point; neighbours outside the image receive nothing.
//
// Shapes: input (B, C, H, W), flow (B, 2, H, W), metric (B, 1, H, W); float32 or float64, all one
// dtype, contiguous (the Python wrapper guarantees it).  Modes: 0 sum, 1 avg, 2 linear, 3 soft.
//
// Parallelism (at::parallel_for, OpenMP): the forward scatter gives every thread its own set of
// (batch, channel) planes, so there are no races and no atomics and the result is deterministic;
// the backward is a gather and splits the source pixels instead.  Pixels are processed in tiles
// whose target geometry is computed once and then reused for every channel (channel-outer loops
// keep each plane's reads and writes local).

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <tuple>

namespace {

constexpr int64_t kSum = 0, kAvg = 1, kLinear = 2, kSoft = 3;
constexpr int64_t kTile = 256;  // source pixels per tile: geometry arrays stay in L1/L2
constexpr int64_t kPrefetch = 32;  // pixels ahead that the scatter and gather prefetch
// Work (plane-pixels) below which a loop stays on the calling thread: waking the OpenMP team costs
// microseconds, and on a busy machine a descheduled worker can stall a region for milliseconds.
constexpr int64_t kMinParallelWork = 1 << 16;

// at::parallel_for grain for items of `work_per_item` plane-pixels each.
inline int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, kMinParallelWork / std::max<int64_t>(1, work_per_item));
}

// Target geometry of one tile of source pixels: for each pixel the flat index of its top-left
// target neighbour, which of the four neighbours (top-left, top-right, bottom-left, bottom-right:
// offsets 0, 1, W, W + 1) lie inside the image, their bilinear weights and the fractional position.
constexpr unsigned kAllInside = 15;

template <typename T>
struct Tile {
  int64_t base[kTile];
  unsigned char inside[kTile];  // bit k: neighbour k is in the image
  T w[4][kTile];
  T ax[kTile];
  T ay[kTile];
  T weight[kTile];  // 1 (sum, avg), metric (linear) or exp(metric) (soft)

  // Pixels [p0, p0 + n) of one image; flow points at that image's (2, H, W) flow, weights at its
  // (H, W) weights (metric, or exp(metric) computed beforehand by ATen's vectorised exp), or null.
  void compute(const T* flow, const T* weights, int64_t H, int64_t W, int64_t p0, int64_t n) {
    const int64_t hw = H * W;
    int64_t y = p0 / W;  // walked along with p: no integer division per pixel
    int64_t x = p0 - y * W;
    for (int64_t i = 0; i < n; ++i, ++x) {
      if (x == W) {
        x = 0;
        ++y;
      }
      const int64_t p = p0 + i;
      const T px = static_cast<T>(x) + flow[p];
      const T py = static_cast<T>(y) + flow[hw + p];
      const T fx0 = std::floor(px);
      const T fy0 = std::floor(py);
      // checked before the integer conversions so that huge targets cannot overflow them
      const bool inside = fx0 >= T(-1) && fx0 <= static_cast<T>(W - 1) && fy0 >= T(-1) && fy0 <= static_cast<T>(H - 1);
      const int64_t x0 = inside ? static_cast<int64_t>(fx0) : -2;
      const int64_t y0 = inside ? static_cast<int64_t>(fy0) : -2;
      const T a = px - fx0;
      const T b = py - fy0;
      ax[i] = a;
      ay[i] = b;
      w[0][i] = (T(1) - a) * (T(1) - b);
      w[1][i] = a * (T(1) - b);
      w[2][i] = (T(1) - a) * b;
      w[3][i] = a * b;
      const bool west = x0 >= 0, east = x0 + 1 <= W - 1, north = y0 >= 0, south = y0 + 1 <= H - 1;
      base[i] = inside ? y0 * W + x0 : 0;  // an outside neighbour's index is never used
      this->inside[i] = inside ? static_cast<unsigned char>((west && north) | (east && north) << 1 |
                                                            (west && south) << 2 | (east && south) << 3)
                               : 0;
    }
    if (weights != nullptr) {
      std::copy(weights + p0, weights + p0 + n, weight);
    } else {
      std::fill(weight, weight + n, T(1));
    }
  }
};

// The normalising denominator: a zero (a hole) becomes 1 as in the authors' kernel, or + eps.
template <typename T>
inline T effective_den(T d, bool has_eps, T eps) {
  return has_eps ? d + eps : (d == T(0) ? T(1) : d);
}

// Scatter NB planes of one tile: src[j][i] * weight[i] is added to dst[j] at pixel i's four
// targets.  Blocking the planes reuses each pixel's geometry (loaded once) for NB planes; the
// common case of four neighbours inside the image takes a branch-free path.
template <typename T, int NB>
inline void scatter_block(const Tile<T>& tile, int64_t n, int64_t W, const T* const* src, T* const* dst) {
  const int64_t offset[4] = {0, 1, W, W + 1};
  for (int64_t i = 0; i < n; ++i) {
    // the targets are known a tile ahead: prefetch both target rows of a later pixel, which hides
    // most of the cache misses of incoherent flows (base is 0 for outside targets: harmless)
    if (i + kPrefetch < n) {
      const int64_t ahead = tile.base[i + kPrefetch];
      for (int j = 0; j < NB; ++j) {
        __builtin_prefetch(dst[j] + ahead, 1);
        __builtin_prefetch(dst[j] + ahead + W, 1);
      }
    }
    T v[NB];
    for (int j = 0; j < NB; ++j) v[j] = src[j][i] * tile.weight[i];
    const int64_t q = tile.base[i];
    const unsigned inside = tile.inside[i];
    const T w0 = tile.w[0][i], w1 = tile.w[1][i], w2 = tile.w[2][i], w3 = tile.w[3][i];
    if (inside == kAllInside) {
      for (int j = 0; j < NB; ++j) {
        T* d = dst[j] + q;
        d[0] += v[j] * w0;
        d[1] += v[j] * w1;
        d[W] += v[j] * w2;
        d[W + 1] += v[j] * w3;
      }
    } else if (inside != 0) {
      const T wk[4] = {w0, w1, w2, w3};
      for (int k = 0; k < 4; ++k) {
        if (!(inside >> k & 1u)) continue;
        for (int j = 0; j < NB; ++j) dst[j][q + offset[k]] += v[j] * wk[k];
      }
    }
  }
}

template <typename T>
void forward_impl(const T* x, const T* flow, const T* weights, T* out, T* den, int64_t B, int64_t C, int64_t H,
                  int64_t W, int64_t mode, bool has_eps, T eps) {
  const int64_t hw = H * W;
  const int64_t K = mode == kSum ? C : C + 1;  // plane C is the splatted weight (denominator)
  // one work item per (batch, plane): a thread owns its planes, so the scatter needs no atomics
  at::parallel_for(0, B * K, grain_for(hw), [&](int64_t begin, int64_t end) {
    Tile<T> tile;
    T ones[kTile];  // the weight plane splats 1 * weight
    std::fill(ones, ones + kTile, T(1));
    int64_t item = begin;
    while (item < end) {
      const int64_t b = item / K;
      const int64_t c0 = item - b * K;
      const int64_t c1 = std::min(K, c0 + (end - item));  // this thread's planes of image b
      const T* fb = flow + b * 2 * hw;
      const T* wb = weights != nullptr ? weights + b * hw : nullptr;
      for (int64_t p0 = 0; p0 < hw; p0 += kTile) {
        const int64_t n = std::min(kTile, hw - p0);
        tile.compute(fb, wb, H, W, p0, n);
        for (int64_t c = c0; c < c1; c += 4) {
          const int nb = static_cast<int>(std::min<int64_t>(4, c1 - c));
          const T* src[4];
          T* dst[4];
          for (int j = 0; j < nb; ++j) {
            const bool value_plane = c + j < C;
            src[j] = value_plane ? x + (b * C + c + j) * hw + p0 : ones;
            dst[j] = value_plane ? out + (b * C + c + j) * hw : den + b * hw;
          }
          switch (nb) {
            case 4: scatter_block<T, 4>(tile, n, W, src, dst); break;
            case 3: scatter_block<T, 3>(tile, n, W, src, dst); break;
            case 2: scatter_block<T, 2>(tile, n, W, src, dst); break;
            default: scatter_block<T, 1>(tile, n, W, src, dst); break;
          }
        }
      }
      item += c1 - c0;
    }
  });
  if (mode == kSum) return;
  // normalise in place: out = num * (1 / den), one division per pixel (a last-bit difference
  // to num / den, well inside float rounding of the splat itself)
  at::parallel_for(0, B * hw, grain_for(C), [&](int64_t begin, int64_t end) {
    T inv[kTile];
    int64_t p = begin;
    while (p < end) {
      const int64_t b = p / hw;
      const int64_t s = p - b * hw;
      const int64_t e = std::min({hw, s + (end - p), s + kTile});
      const T* d = den + b * hw + s;
      const int64_t n = e - s;
      if (has_eps) {  // two branch-free loops: both vectorise
        for (int64_t i = 0; i < n; ++i) inv[i] = T(1) / (d[i] + eps);
      } else {
        for (int64_t i = 0; i < n; ++i) inv[i] = T(1) / (d[i] == T(0) ? T(1) : d[i]);
      }
      for (int64_t c = 0; c < C; ++c) {
        T* o = out + (b * C + c) * hw + s;
        for (int64_t i = 0; i < n; ++i) o[i] *= inv[i];
      }
      p += n;
    }
  });
}

// Gather for NB planes of one tile: g[j] is the gradient w.r.t. splatted plane j, src[j][i] its
// unweighted source value (x, or 1 for the weight plane).  Accumulates d/dpx, d/dpy and d/dweight
// of every pixel over the planes and writes d/dx (weighted) where gxs[j] is not null.
template <typename T, int NB>
inline void gather_block(const Tile<T>& tile, int64_t n, int64_t W, const T* const* g, const T* const* src, T* const* gxs,
                         T* sx, T* sy, T* sw) {
  const int64_t offset[4] = {0, 1, W, W + 1};
  for (int64_t i = 0; i < n; ++i) {
    if (i + kPrefetch < n) {  // as in scatter_block
      const int64_t ahead = tile.base[i + kPrefetch];
      for (int j = 0; j < NB; ++j) {
        __builtin_prefetch(g[j] + ahead, 0);
        __builtin_prefetch(g[j] + ahead + W, 0);
      }
    }
    const T ax = tile.ax[i], ay = tile.ay[i];
    const T bx = T(1) - ax, by = T(1) - ay;
    const T dwx[4] = {-by, by, -ay, ay};  // derivatives of the four weights (floor is constant)
    const T dwy[4] = {-bx, -ax, bx, ax};
    T acc[NB], accx[NB], accy[NB];
    for (int j = 0; j < NB; ++j) acc[j] = accx[j] = accy[j] = T(0);
    const int64_t q = tile.base[i];
    const unsigned inside = tile.inside[i];
    for (int k = 0; k < 4; ++k) {
      if (!(inside >> k & 1u)) continue;
      const int64_t qk = q + offset[k];
      const T wk = tile.w[k][i];
      for (int j = 0; j < NB; ++j) {
        const T gk = g[j][qk];
        acc[j] += wk * gk;
        accx[j] += dwx[k] * gk;
        accy[j] += dwy[k] * gk;
      }
    }
    const T wt = tile.weight[i];
    T px = 0, py = 0, pw = 0;
    for (int j = 0; j < NB; ++j) {
      const T xv = src[j][i];
      const T v = xv * wt;  // the splatted value of this plane
      px += v * accx[j];
      py += v * accy[j];
      pw += acc[j] * xv;  // d splatted value / d weight = x (1 for the weight plane)
      if (gxs[j] != nullptr) gxs[j][i] = acc[j] * wt;
    }
    sx[i] += px;
    sy[i] += py;
    sw[i] += pw;
  }
}

// Gradients of the fused op.  g holds the gradient w.r.t. the K splatted planes (B, K, H, W);
// every source pixel gathers it at its four targets, so threads split the source pixels.
template <typename T>
void backward_impl(const T* g, const T* x, const T* flow, const T* weights, T* gx, T* gflow, T* gmetric, int64_t B,
                   int64_t C, int64_t H, int64_t W, int64_t mode) {
  const int64_t hw = H * W;
  const int64_t K = mode == kSum ? C : C + 1;
  const int64_t tiles = (hw + kTile - 1) / kTile;
  at::parallel_for(0, B * tiles, grain_for(kTile * K), [&](int64_t begin, int64_t end) {
    Tile<T> tile;
    T ones[kTile];
    std::fill(ones, ones + kTile, T(1));
    T sx[kTile], sy[kTile], sw[kTile];  // d/dpx, d/dpy, d/dweight accumulated over the planes
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / tiles;
      const int64_t p0 = (item - b * tiles) * kTile;
      const int64_t n = std::min(kTile, hw - p0);
      tile.compute(flow + b * 2 * hw, weights != nullptr ? weights + b * hw : nullptr, H, W, p0, n);
      std::fill(sx, sx + n, T(0));
      std::fill(sy, sy + n, T(0));
      std::fill(sw, sw + n, T(0));
      for (int64_t c = 0; c < K; c += 4) {
        const int nb = static_cast<int>(std::min<int64_t>(4, K - c));
        const T* gs[4];
        const T* src[4];
        T* gxs[4];
        for (int j = 0; j < nb; ++j) {
          const bool value_plane = c + j < C;
          gs[j] = g + (b * K + c + j) * hw;
          src[j] = value_plane ? x + (b * C + c + j) * hw + p0 : ones;
          gxs[j] = (value_plane && gx != nullptr) ? gx + (b * C + c + j) * hw + p0 : nullptr;
        }
        switch (nb) {
          case 4: gather_block<T, 4>(tile, n, W, gs, src, gxs, sx, sy, sw); break;
          case 3: gather_block<T, 3>(tile, n, W, gs, src, gxs, sx, sy, sw); break;
          case 2: gather_block<T, 2>(tile, n, W, gs, src, gxs, sx, sy, sw); break;
          default: gather_block<T, 1>(tile, n, W, gs, src, gxs, sx, sy, sw); break;
        }
      }
      if (gflow != nullptr) {
        std::copy(sx, sx + n, gflow + b * 2 * hw + p0);
        std::copy(sy, sy + n, gflow + b * 2 * hw + hw + p0);
      }
      if (gmetric != nullptr) {  // d/dmetric = d/dweight (linear) or d/dweight * exp(metric) (soft)
        T* gm = gmetric + b * hw + p0;
        for (int64_t i = 0; i < n; ++i) gm[i] = mode == kSoft ? sw[i] * tile.weight[i] : sw[i];
      }
    }
  });
}

void check_inputs(const at::Tensor& x, const at::Tensor& flow, const std::optional<at::Tensor>& metric, int64_t mode) {
  TORCH_CHECK(mode >= kSum && mode <= kSoft, "softsplat: mode must be 0..3, got ", mode);
  TORCH_CHECK(x.device().is_cpu() && flow.device().is_cpu(), "softsplat (C++): CPU tensors only");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "softsplat (C++): input must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(flow.scalar_type() == x.scalar_type(), "softsplat (C++): flow dtype must match input");
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous(), "softsplat (C++): input must be a contiguous (B, C, H, W) tensor");
  TORCH_CHECK(flow.dim() == 4 && flow.size(0) == x.size(0) && flow.size(1) == 2 && flow.size(2) == x.size(2) &&
                  flow.size(3) == x.size(3) && flow.is_contiguous(),
              "softsplat (C++): flow must be a contiguous (B, 2, H, W) tensor matching input");
  if (mode == kLinear || mode == kSoft) {
    TORCH_CHECK(metric.has_value() && metric->defined(), "softsplat (C++): metric is required for linear/soft");
    TORCH_CHECK(metric->scalar_type() == x.scalar_type() && metric->is_contiguous() && metric->dim() == 4 &&
                    metric->size(0) == x.size(0) && metric->size(1) == 1 && metric->size(2) == x.size(2) &&
                    metric->size(3) == x.size(3),
                "softsplat (C++): metric must be a contiguous (B, 1, H, W) tensor matching input");
  }
}

// Per-pixel splat weights (B, 1, H, W): undefined (all 1) for sum/avg, metric, or exp(metric) with
// ATen's vectorised exp (no max-subtraction, exactly the authors' exp(metric)).
at::Tensor splat_weights(const std::optional<at::Tensor>& metric, int64_t mode) {
  if (mode == kLinear) return *metric;
  if (mode == kSoft) return metric->exp();
  return at::Tensor();
}

// Returns (out (B, C, H, W), den (B, 1, H, W): the raw splatted weight, empty for sum).
std::tuple<at::Tensor, at::Tensor> softsplat_forward(const at::Tensor& x, const at::Tensor& flow,
                                                     const std::optional<at::Tensor>& metric, int64_t mode,
                                                     std::optional<double> eps) {
  check_inputs(x, flow, metric, mode);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  at::Tensor out = at::zeros_like(x);
  at::Tensor den = mode == kSum ? at::empty({0}, x.options()) : at::zeros({B, 1, H, W}, x.options());
  if (B * H * W == 0) return {out, den};
  const at::Tensor weights = splat_weights(metric, mode);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "softsplat_forward", [&] {
    forward_impl<scalar_t>(x.data_ptr<scalar_t>(), flow.data_ptr<scalar_t>(),
                           weights.defined() ? weights.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(),
                           mode == kSum ? nullptr : den.data_ptr<scalar_t>(), B, C, H, W, mode, eps.has_value(),
                           static_cast<scalar_t>(eps.value_or(0.0)));
  });
  return {out, den};
}

// Gradients (input, flow, metric) of the forward; a gradient that is not needed comes back undefined.
std::tuple<at::Tensor, at::Tensor, at::Tensor> softsplat_backward(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& flow, const std::optional<at::Tensor>& metric,
    const at::Tensor& out, const at::Tensor& den, int64_t mode, std::optional<double> eps, bool need_input,
    bool need_flow, bool need_metric) {
  check_inputs(x, flow, metric, mode);
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.scalar_type() == x.scalar_type() && grad.is_contiguous(),
              "softsplat (C++): grad must be a contiguous tensor shaped like input");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t hw = H * W;
  const bool uses_metric = mode == kLinear || mode == kSoft;
  need_metric = need_metric && uses_metric;
  at::Tensor gx = need_input ? at::empty_like(x) : at::Tensor();
  at::Tensor gflow = need_flow ? at::empty_like(flow) : at::Tensor();
  at::Tensor gmetric = need_metric ? at::empty_like(*metric) : at::Tensor();
  if (!(need_input || need_flow || need_metric)) return {gx, gflow, gmetric};
  const at::Tensor weights = splat_weights(metric, mode);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "softsplat_backward", [&] {
    using T = scalar_t;
    at::Tensor g = grad;
    if (mode != kSum) {
      TORCH_CHECK(out.sizes() == x.sizes() && out.is_contiguous() && den.numel() == B * hw && den.is_contiguous(),
                  "softsplat (C++): out/den of the forward are needed for the backward");
      // gradient w.r.t. the splatted planes: d(num / den) = grad / den, d den = -sum_c grad_c out_c / den
      g = at::empty({B, C + 1, H, W}, x.options());
      const T* gr = grad.data_ptr<T>();
      const T* o = out.data_ptr<T>();
      const T* d = den.data_ptr<T>();
      T* gp = g.data_ptr<T>();
      const bool has_eps = eps.has_value();
      const T e = static_cast<T>(eps.value_or(0.0));
      at::parallel_for(0, B * hw, grain_for(C), [&](int64_t begin, int64_t end) {
        int64_t p = begin;
        while (p < end) {
          const int64_t b = p / hw;
          const int64_t s = p - b * hw;
          const int64_t stop = std::min(hw, s + (end - p));
          T* gden = gp + (b * (C + 1) + C) * hw;
          const T* db = d + b * hw;
          for (int64_t i = s; i < stop; ++i) gden[i] = T(0);
          for (int64_t c = 0; c < C; ++c) {
            const T* grc = gr + (b * C + c) * hw;
            const T* oc = o + (b * C + c) * hw;
            T* gnc = gp + (b * (C + 1) + c) * hw;
            for (int64_t i = s; i < stop; ++i) {
              const T gn = grc[i] / effective_den(db[i], has_eps, e);
              gnc[i] = gn;
              gden[i] -= gn * oc[i];
            }
          }
          if (!has_eps) {  // a replaced (hole) denominator is a constant
            for (int64_t i = s; i < stop; ++i)
              if (db[i] == T(0)) gden[i] = T(0);
          }
          p += stop - s;
        }
      });
    }
    backward_impl<T>(g.data_ptr<T>(), x.data_ptr<T>(), flow.data_ptr<T>(),
                     weights.defined() ? weights.data_ptr<T>() : nullptr, need_input ? gx.data_ptr<T>() : nullptr,
                     need_flow ? gflow.data_ptr<T>() : nullptr, need_metric ? gmetric.data_ptr<T>() : nullptr, B, C,
                     H, W, mode);
  });
  return {gx, gflow, gmetric};
}

}  // namespace

TORCH_LIBRARY(stvsr_softsplat, m) {
  m.def("forward(Tensor input, Tensor flow, Tensor? metric, int mode, float? eps) -> (Tensor, Tensor)");
  m.def(
      "backward(Tensor grad, Tensor input, Tensor flow, Tensor? metric, Tensor out, Tensor den, int mode, "
      "float? eps, bool need_input, bool need_flow, bool need_metric) -> (Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(stvsr_softsplat, CPU, m) {
  m.impl("forward", &softsplat_forward);
  m.impl("backward", &softsplat_backward);
}
