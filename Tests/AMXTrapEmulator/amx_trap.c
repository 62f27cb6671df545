// Trap and emulate: the tile unit's compilation of DiceKit's AMX kernels (conv_amx.c), run on a
// CPU without AMX. Such a CPU raises #UD on every AMX instruction and Linux delivers SIGILL; the
// handler installed here reads the faulting instruction's bytes, decodes it as Intel's
// instruction set reference encodes the AMX instructions (VEX, map 0F38, W0, L0):
//   ldtilecfg m512        NP 49 /0 (memory)      tilerelease          NP 49 C0
//   tilezero tmm          F2 49 11:rrr:000       tdpbf16ps tmm, tmm, tmm  F3 5C 11:rrr:bbb (vvvv: the third)
//   tileloadd tmm, sibmem F2 4B (66: the T1 hint) tilestored sibmem, tmm  F3 4B
// executes it on this thread's software tile state (the library's model of the tile unit,
// amx_model.h, which checks every shape the silicon checks), and resumes after it. The rest of
// the kernels runs natively: the address arithmetic, the tile numbers and strides the compiler
// chose, and the configuration bytes in memory, which the handler reads at the offsets the
// reference gives (palette 0, start_row 1, colsb[i] at 16 + 2i, rows[i] at 48 + i) rather than
// through the library's struct. An illegal instruction the handler does not know goes to the
// handler that was there before (by default, the process ends as it would have).

#define _GNU_SOURCE // REG_RIP and the other register slots of ucontext_t
#include "amx_trap.h"
#include "amx_trap_probe.h"
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/// An emulated #UD (a shape or configuration the silicon refuses): back to the caller's recovery
/// point with the rule broken, or the process stops as it would on the silicon.
static _Noreturn void emulated_fault(const char *what);
#define DK_AMX_MODEL_FAULT(what) emulated_fault(what)
#include "../../Sources/CDiceKitKernels/convolution/amx_model.h"
#include "../../Sources/CDiceKitKernels/convolution/conv_internal.h"

/// This thread's recovery point while a runner below runs, and what its last fault broke.
static _Thread_local sigjmp_buf *recovery;
static _Thread_local char fault_text[160];

static _Noreturn void emulated_fault(const char *what) {
    snprintf(fault_text, sizeof fault_text, "#UD: %s", what);
    if (recovery) siglongjmp(*recovery, 1);
    fprintf(stderr, "AMX trap emulator: %s\n", fault_text);
    abort();
}

const char *amx_trap_fault_detail(void) { return fault_text; }

#if defined(__linux__) && defined(__x86_64__)
#include <signal.h>
#include <ucontext.h>

/// This thread's tiles and configuration, as the XSAVE state of a real thread would hold them.
static _Thread_local amx_model thread_tiles;
static _Atomic long emulated[AMX_TRAP_KINDS];
static struct sigaction previous_action;
static int installed;

/// One decoded AMX instruction: its kind, length, tile operands and memory operand.
typedef struct {
    int kind, length;
    int tile, a, b;          // ModRM.reg (destination or source tile), ModRM.rm, VEX.vvvv
    const uint8_t *address;  // base + displacement (+ index·scale for ldtilecfg)
    long stride;             // tileloadd and tilestored (sibmem): index·scale, the bytes between rows
} amx_instruction;

/// The general registers in ModRM/SIB numbering (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8–r15).
static long general_register(const ucontext_t *context, int number) {
    static const int slots[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
                                  REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};
    return context ? (long)context->uc_mcontext.gregs[slots[number]] : 0;
}

static int32_t read_int32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/// Decodes the instruction at `code`; `context` (may be NULL) supplies the registers of a memory
/// operand. Returns 0 for anything but the six instructions above in their valid encodings.
static int decode(const uint8_t *code, const ucontext_t *context, amx_instruction *out) {
    if (code[0] != 0xC4) return 0;
    const int r = !(code[1] & 0x80), x = !(code[1] & 0x40), b = !(code[1] & 0x20), map = code[1] & 0x1F;
    const int w = code[2] >> 7, vvvv = (~code[2] >> 3) & 0xF, l = code[2] >> 2 & 1, pp = code[2] & 3;
    if (map != 2 || w || l) return 0;
    const uint8_t opcode = code[3], modrm = code[4];
    const int mod = modrm >> 6, reg = (modrm >> 3 & 7) | r << 3, rm = modrm & 7;
    memset(out, 0, sizeof *out);
    out->length = 5;
    out->tile = reg;
    if (mod == 3) {
        out->a = rm | b << 3;
        out->b = vvvv;
        if (opcode == 0x49 && pp == 0 && modrm == 0xC0 && !r && !b && !vvvv) out->kind = AMX_TRAP_TILERELEASE;
        else if (opcode == 0x49 && pp == 3 && rm == 0 && !b && !vvvv && reg < 8) out->kind = AMX_TRAP_TILEZERO;
        else if (opcode == 0x5C && pp == 2 && reg < 8 && out->a < 8 && vvvv < 8) out->kind = AMX_TRAP_TDPBF16PS;
        else return 0;
        return 1;
    }
    // A memory operand: [SIB] then disp8 (mod 1), disp32 (mod 2, or no base with mod 0).
    long base = 0, stride = 0;
    int has_sib = 0, rip_relative = 0, disp_bytes = mod == 1 ? 1 : mod == 2 ? 4 : 0;
    if (rm == 4) {
        const uint8_t sib = code[5];
        const int index = (sib >> 3 & 7) | x << 3, base_field = sib & 7;
        has_sib = 1;
        out->length++;
        if (index != 4) stride = general_register(context, index) << (sib >> 6);
        if (base_field == 5 && mod == 0) disp_bytes = 4;
        else base = general_register(context, base_field | b << 3);
    } else if (rm == 5 && mod == 0) {
        rip_relative = 1, disp_bytes = 4;
    } else {
        base = general_register(context, rm | b << 3);
    }
    const long displacement = disp_bytes == 1   ? (int8_t)code[out->length]
                              : disp_bytes == 4 ? read_int32(code + out->length)
                                                : 0;
    out->length += disp_bytes;
    if (rip_relative) base = (long)(code + out->length);
    out->address = (const uint8_t *)(base + displacement);
    out->stride = stride;
    if (opcode == 0x49 && pp == 0 && (modrm >> 3 & 7) == 0 && !r && !vvvv) {
        out->kind = AMX_TRAP_LDTILECFG;  // an ordinary memory operand: the index is part of the address
        out->address += stride, out->stride = 0;
    } else if (opcode == 0x4B && (pp == 3 || pp == 1) && has_sib && reg < 8 && !vvvv) out->kind = AMX_TRAP_TILELOADD;
    else if (opcode == 0x4B && pp == 2 && has_sib && reg < 8 && !vvvv) out->kind = AMX_TRAP_TILESTORED;
    else return 0;
    return 1;
}

/// ldtilecfg from the 64 bytes at `p`, read at the reference's offsets; palette 0 releases.
static void load_config(amx_model *m, const uint8_t *p) {
    if (p[0] == 0) {
        memset(m, 0, sizeof *m);
        return;
    }
    dk_tile_config c;
    memset(&c, 0, sizeof c);
    c.palette = p[0], c.start_row = p[1];
    memcpy(c.reserved, p + 2, sizeof c.reserved);
    for (int t = 0; t < 16; t++) {
        c.colsb[t] = (uint16_t)(p[16 + 2 * t] | p[17 + 2 * t] << 8);
        c.rows[t] = p[48 + t];
    }
    model_config(m, &c);
}

static void execute(const amx_instruction *i) {
    amx_model *m = &thread_tiles;
    switch (i->kind) {
    case AMX_TRAP_LDTILECFG: load_config(m, i->address); break;
    case AMX_TRAP_TILERELEASE: memset(m, 0, sizeof *m); break;
    case AMX_TRAP_TILEZERO: model_zero(m, i->tile); break;
    case AMX_TRAP_TILELOADD: model_load(m, i->tile, i->address, i->stride); break;
    case AMX_TRAP_TILESTORED: model_store(m, i->tile, (void *)(uintptr_t)i->address, i->stride); break;
    case AMX_TRAP_TDPBF16PS: model_dp(m, i->tile, i->a, i->b); break;
    default: break;
    }
    atomic_fetch_add_explicit(&emulated[i->kind], 1, memory_order_relaxed);
}

static void on_illegal_instruction(int signal, siginfo_t *info, void *raw) {
    (void)signal, (void)info;
    ucontext_t *context = raw;
    amx_instruction instruction;
    const uint8_t *code = (const uint8_t *)context->uc_mcontext.gregs[REG_RIP];
    if (decode(code, context, &instruction)) {
        execute(&instruction);
        context->uc_mcontext.gregs[REG_RIP] += instruction.length;
        return;
    }
    // Not ours: the previous handler takes the same instruction when it faults again.
    sigaction(SIGILL, &previous_action, NULL);
}

int amx_trap_install(void) {
    if (installed) return 0;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_illegal_instruction;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGILL, &action, &previous_action) != 0) return -1;
    installed = 1;
    return 0;
}

void amx_trap_remove(void) {
    if (!installed) return;
    sigaction(SIGILL, &previous_action, NULL);
    installed = 0;
}

void amx_trap_counts(long counts[AMX_TRAP_KINDS]) {
    for (int k = 0; k < AMX_TRAP_KINDS; k++) counts[k] = atomic_load_explicit(&emulated[k], memory_order_relaxed);
}

int amx_trap_decode(const unsigned char *code, int *length) {
    amx_instruction instruction;
    if (!decode(code, NULL, &instruction)) return -1;
    *length = instruction.length;
    return instruction.kind;
}

#else

int amx_trap_install(void) { return -1; }
void amx_trap_remove(void) {}
void amx_trap_counts(long counts[AMX_TRAP_KINDS]) {
    for (int k = 0; k < AMX_TRAP_KINDS; k++) counts[k] = 0;
}
int amx_trap_decode(const unsigned char *code, int *length) {
    (void)code, (void)length;
    return -1;
}

#endif

// MARK: - The runners, each with a recovery point for an emulated #UD

/// Ends a runner: drops its recovery point and returns `status`.
static int leave(int status) {
    recovery = NULL;
    return status;
}

int amx_trap_self_check(char *detail, long size) {
    sigjmp_buf point;
    if (sigsetjmp(point, 1)) {
        snprintf(detail, (size_t)size, "%s", fault_text);
        return leave(-1);
    }
    fault_text[0] = 0, recovery = &point;
    return leave(dk_amx_self_check_run(1, detail, size));
}

int amx_trap_forward(const dk_conv_geometry *g, const uint16_t *xp, const uint16_t *wt, const float *bias,
                     void *y, long q0, long q1) {
    sigjmp_buf point;
    if (sigsetjmp(point, 1)) return leave(-1);
    fault_text[0] = 0, recovery = &point;
    dk_amx_forward_run(1, g, xp, wt, bias, y, q0, q1);
    return leave(0);
}

int amx_trap_weight_grad(const dk_conv_geometry *g, const uint16_t *xt, long xt_stride, const uint16_t *dyg,
                         long dyg_stride, long samples, float *dw, long kb0, long kb1, long cb0, long cb1,
                         long positions, int accumulate) {
    sigjmp_buf point;
    if (sigsetjmp(point, 1)) return leave(-1);
    fault_text[0] = 0, recovery = &point;
    dk_amx_weight_grad_run(1, g, xt, xt_stride, dyg, dyg_stride, samples, dw, kb0, kb1, cb0, cb1, positions, accumulate);
    return leave(0);
}

int amx_trap_tile_products(int hardware, long rounds, double *total) {
    sigjmp_buf point;
    if (sigsetjmp(point, 1)) return leave(-1);
    fault_text[0] = 0, recovery = &point;
    *total = dk_amx_tile_products_run(hardware, rounds);
    return leave(0);
}

int amx_trap_probe(void) {
    sigjmp_buf point;
    if (sigsetjmp(point, 1)) return leave(-1);
    fault_text[0] = 0, recovery = &point;
    return leave(amx_trap_probe_run());
}
