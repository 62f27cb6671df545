// The AMX-BF16 convolution kernels (forward pass, weight gradient), written once against the tile
// operations below and compiled twice by conv_amx.c: on the tile unit (the AMX intrinsics) and on
// amx_model, its software model. Not a header to include anywhere else. Before including it,
// conv_amx.c defines:
//   AMX_NAME(name)        the function's name for this compilation
//   AMX_TARGET            its target attribute (AMX for the hardware, nothing for the model)
//   AMX_STORE_BLOCK       the forward pass's stores (AVX-512 for the hardware, scalar for the model)
//   AMX_HEAD_ROWS         the same outputs kept for a fused 1×1 head (amx_head_rows), likewise
//   AMX_STATE             the declarations the operations need (the model's tiles)
//   TILE_CONFIG(cfg)      ldtilecfg            TILE_RELEASE()     tilerelease
//   TILE_ZERO(t)          tilezero             TILE_DP(c, a, b)   tdpbf16ps
//   TILE_LOAD(t, p, s)    tileloadd (s bytes between rows)
//   TILE_STORE(t, p, s)   tilestored
//
// Forward pass. Tiles: 0–3 the sums of 32 positions × 32 output channels (C[i][j]: positions 16·i, channels
// 16·j of the block), 4–5 the input rows of the two halves of the positions, 6–7 the kernel
// pairs of the two 16-channel halves. A tile of input is 16 grid positions along the padded
// grid (rows 2·cin bytes apart, so consecutive rows overlap), each row `chunk` consecutive
// bfloat16 of one segment (kw·cin taps; chunk = 32, or 16 when a segment is an odd number of
// 16s); its kernel tile is the matching chunk/2 rows of the tile packing, 16 channels of pairs
// each (dk_bf16_pack_weight_tiles). Positions off the output grid (x ≥ ow, y ≥ oh) and those past
// the task's range are computed but not stored; their rows read at most 31 positions past the
// last one stored, which the slack after a padded sample holds (DK_CONV_SLACK_POSITIONS).
// The 16-channel blocks run in groups whose packed weights fit dk_conv_weight_block(g) (L2 / 4,
// ConvBlocking.swift; at least a pair): every 32 positions of the range run over one group
// before the next group starts, so that a wide layer's weights (4.5 MiB at 3×3, 512 → 512) are
// read from memory once per call instead of once per 32 positions. Each output's sum runs over
// the same rows in the same order whatever the groups. With a 1×1 head (g->head_classes; at most
// 64 output channels, one group) a block's outputs are kept for the 32 positions' every channel
// (AMX_HEAD_ROWS) and only their logits are stored (amx_store_head).

AMX_TARGET static void AMX_NAME(forward_tiles)(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wt,
                                                 const float *bias, void *y, long q0, long q1) {
    AMX_STATE
    const long cin = g->cin, cout = g->cout, segment = (long)g->kw * cin;
    const long pairs = (long)g->kd * g->kh * segment / 2;  // rows of pairs of one 16-channel block
    const int chunk = segment % 32 == 0 ? 32 : 16;
    dk_tile_config config;
    __builtin_memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 4; t++) config.colsb[t] = 64, config.rows[t] = 16;
    for (int t = 4; t < 6; t++) config.colsb[t] = (uint16_t)(2 * chunk), config.rows[t] = 16;
    for (int t = 6; t < 8; t++) config.colsb[t] = 64, config.rows[t] = (uint8_t)(chunk / 2);
    TILE_CONFIG(&config);
    float sums[4][16][16] __attribute__((aligned(64)));
    const long first = dk_conv_grid_position(g, q0), end = dk_conv_grid_position(g, q1 - 1) + 1;
    const int segments = g->kd * g->kh, blocks = (int)(cout / 16);
    // 16-channel blocks per group: `pairs` rows of 64 bytes each, an even count.
    const long fitting = dk_conv_weight_block(g) / (pairs * 64) / 2 * 2;
    const int head = g->head_classes > 0;
    const int group = head || fitting > blocks ? blocks : fitting < 2 ? 2 : (int)fitting;
    float rows[head ? 32 : 1][64] __attribute__((aligned(64)));
    long out[32];
    // Each 16-channel block's offset from its position's (dk_conv_output_column), found once.
    long column[blocks];
    for (int nb = 0; nb < blocks; nb++) column[nb] = dk_conv_output_column(g, 16 * nb);
    for (int b0 = 0; b0 < blocks; b0 += group) {
        for (long p = first; p < end; p += 32) {
            amx_block_outputs(g, p, end, q0, q1, out);
            for (int nb = b0; nb < b0 + group && nb < blocks; nb += 2) {
                const int both = nb + 1 < blocks;
                TILE_ZERO(0);
                TILE_ZERO(1);
                TILE_ZERO(2);
                TILE_ZERO(3);
                dk_conv_segment_cursor cursor = dk_conv_segment_start(g, 0);
                for (int s = 0; s < segments; s++, dk_conv_next_segment(g, &cursor)) {
                    const uint16_t *a = xp + p * cin + cursor.offset;
                    const uint16_t *b = wt + (nb * pairs + s * segment / 2) * 32;
                    for (long k = 0; k < segment; k += chunk) {
                        TILE_LOAD(4, a + k, 2 * cin);
                        TILE_LOAD(5, a + 16 * cin + k, 2 * cin);
                        TILE_LOAD(6, b + k / 2 * 32, 64);
                        TILE_DP(0, 4, 6);
                        TILE_DP(2, 5, 6);
                        if (both) {
                            TILE_LOAD(7, b + (pairs + k / 2) * 32, 64);
                            TILE_DP(1, 4, 7);
                            TILE_DP(3, 5, 7);
                        }
                    }
                }
                TILE_STORE(0, sums[0], 64);
                TILE_STORE(1, sums[1], 64);
                TILE_STORE(2, sums[2], 64);
                TILE_STORE(3, sums[3], 64);
                if (head)
                    AMX_HEAD_ROWS(g, sums, bias, rows, nb, both);
                else
                    AMX_STORE_BLOCK(g, sums, bias, y, out, nb, both, column + nb);
            }
            if (head) amx_store_head(g, rows, (float *)y, out);
        }
    }
    TILE_RELEASE();
}

// The weight gradient, dW[k][co] += Σ over samples and grid positions of X[g][k]·dY[g][co], as
// tile products: C = a 16 × 16 block of dW (kernel rows × output channels), A = 16 kernel rows ×
// 32 consecutive grid positions of the channel-major input (dk_bf16_transpose_grid: kernel row
// k = (segment s, kx, ci) reads channel ci's row from grid position cells(s) + kx on, so the 16
// rows of a block are 16 channels, one row of the transpose apart), B = 16 pairs of consecutive
// grid positions × 16 output channels of the gradient on the grid (dk_bf16_pack_gradient_grid,
// zero off the output grid). Tiles 0–3: C for two row blocks × two channel blocks; 4–5 the two
// row blocks' inputs; 6–7 the two channel blocks' gradients.
// The batch's grid positions (sample after sample) run in chunks of `positions` (a multiple of
// 32; all of them when ≤ 0): every pair of row blocks and pair of channel blocks of the call runs
// over one chunk before the next chunk starts, its C tiles loaded from dW (or zeroed, for the
// first chunk without `accumulate`) and stored back around it. The chunk's inputs and gradients
// are then read from memory once per call instead of once per pair of blocks, and re-read from
// cache by the others (the caller sizes the chunk from L2). A Float tile stored and loaded again
// keeps its bits, so the sum of each element runs over the samples in order, then the grid in
// order, whatever the chunks.

AMX_TARGET static void AMX_NAME(weight_grad_tiles)(const dk_conv_geometry *g, const uint16_t *xt, long xt_stride,
                                                     long row, const uint16_t *dyg, long dyg_stride, long samples,
                                                     float *dw, long kb0, long kb1, long cb0, long cb1,
                                                     long positions, int accumulate) {
    AMX_STATE
    const long cin = g->cin, cout = g->cout, segment = (long)g->kw * cin, length = dk_conv_tile_grid_length(g);
    const long total = samples * length;
    const long step = positions > 0 ? (positions + 31) / 32 * 32 : total > 0 ? total : 32;
    dk_tile_config config;
    __builtin_memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) config.colsb[t] = 64, config.rows[t] = 16;
    TILE_CONFIG(&config);
    // One chunk at least, so that a call over no positions still zeroes its blocks without `accumulate`.
    long t0 = 0;
    do {
        const long t1 = t0 + step < total ? t0 + step : total;
        const long n0 = length > 0 ? t0 / length : 0, p0 = t0 - n0 * length;
        for (long kb = kb0; kb < kb1; kb += 2) {
            const int rows2 = kb + 1 < kb1;
            const long a0 = amx_kernel_row_origin(g, kb, segment, row);
            const long a1 = rows2 ? amx_kernel_row_origin(g, kb + 1, segment, row) : a0;
            for (long cb = cb0; cb < cb1; cb += 2) {
                const int columns2 = cb + 1 < cb1;
                float *c = dw + kb * 16 * cout + cb * 16;
                if (accumulate || t0 > 0) {
                    TILE_LOAD(0, c, 4 * cout);
                    if (columns2) TILE_LOAD(1, c + 16, 4 * cout);
                    if (rows2) TILE_LOAD(2, c + 16 * cout, 4 * cout);
                    if (rows2 && columns2) TILE_LOAD(3, c + 16 * cout + 16, 4 * cout);
                } else {
                    // dW only written: the accumulators start from zero (the bits of a zeroed dW).
                    TILE_ZERO(0);
                    if (columns2) TILE_ZERO(1);
                    if (rows2) TILE_ZERO(2);
                    if (rows2 && columns2) TILE_ZERO(3);
                }
                long n = n0, p = p0;
                for (long t = t0; t < t1; t += 32) {
                    const uint16_t *x = xt + n * xt_stride, *d = dyg + n * dyg_stride + cb * 32;
                    TILE_LOAD(4, x + a0 + p, 2 * row);
                    TILE_LOAD(6, d + p * cout, 4 * cout);
                    TILE_DP(0, 4, 6);
                    if (columns2) {
                        TILE_LOAD(7, d + p * cout + 32, 4 * cout);
                        TILE_DP(1, 4, 7);
                    }
                    if (rows2) {
                        TILE_LOAD(5, x + a1 + p, 2 * row);
                        TILE_DP(2, 5, 6);
                        if (columns2) TILE_DP(3, 5, 7);
                    }
                    if ((p += 32) == length) p = 0, n++;
                }
                TILE_STORE(0, c, 4 * cout);
                if (columns2) TILE_STORE(1, c + 16, 4 * cout);
                if (rows2) TILE_STORE(2, c + 16 * cout, 4 * cout);
                if (rows2 && columns2) TILE_STORE(3, c + 16 * cout + 16, 4 * cout);
            }
        }
        t0 = t1;
    } while (t0 < total);
    TILE_RELEASE();
}

// The tile unit's rate at the kernels' shape (bf16_rate.c): `rounds` of the four products of a
// 2 × 2 block (tiles 0–3 += 4–5 · 6–7, as the kernels above) on operands loaded once, A = 1 and
// B = 2⁻¹⁰ in every element, so that each of the 1024 sums gains 32 · 2⁻¹⁰ per round, exactly
// (below 2¹⁹ rounds). Returns the total of the sums: 32 · rounds.

AMX_TARGET static double AMX_NAME(tile_products)(long rounds) {
    AMX_STATE
    uint16_t one[16 * 32] __attribute__((aligned(64))), small[16 * 32] __attribute__((aligned(64)));
    for (int i = 0; i < 16 * 32; i++) one[i] = 0x3F80, small[i] = 0x3A80;
    dk_tile_config config;
    __builtin_memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) config.colsb[t] = 64, config.rows[t] = 16;
    TILE_CONFIG(&config);
    TILE_LOAD(4, one, 64);
    TILE_LOAD(5, one, 64);
    TILE_LOAD(6, small, 64);
    TILE_LOAD(7, small, 64);
    TILE_ZERO(0);
    TILE_ZERO(1);
    TILE_ZERO(2);
    TILE_ZERO(3);
    for (long r = 0; r < rounds; r++) {
        TILE_DP(0, 4, 6);
        TILE_DP(1, 4, 7);
        TILE_DP(2, 5, 6);
        TILE_DP(3, 5, 7);
    }
    float sums[4][16][16] __attribute__((aligned(64)));
    TILE_STORE(0, sums[0], 64);
    TILE_STORE(1, sums[1], 64);
    TILE_STORE(2, sums[2], 64);
    TILE_STORE(3, sums[3], 64);
    TILE_RELEASE();
    double total = 0;
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) total += sums[t][i][j];
    return total;
}
