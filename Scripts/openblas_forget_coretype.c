// Reproduces, on any CPU, what a DYNAMIC_ARCH OpenBLAS does on a CPU model it does not know:
// it starts on the core named by OPENBLAS_CORETYPE (e.g. Prescott), then this library removes
// the variable before DiceKit looks at it, so DiceKit's core guard sees a generic core that the
// user did not ask for. Used by hand for the "guard" figures in Docs/Benchmarks/AMD-Zen5.md; never by CI.
//
//   cc -shared -fPIC Scripts/openblas_forget_coretype.c -o /tmp/libforget.so -lopenblas -Wl,--no-as-needed
//   OPENBLAS_CORETYPE=Prescott LD_PRELOAD=/tmp/libforget.so DICEKIT_OPENBLAS_GUARD=0 .build/release/dicekit check   # before
//   OPENBLAS_CORETYPE=Prescott LD_PRELOAD=/tmp/libforget.so .build/release/dicekit check                            # after
//
// Linking against libopenblas makes the loader run OpenBLAS's constructor (which reads the
// variable and selects the core) before this library's.

#include <stdlib.h>

extern char *openblas_get_corename(void);

__attribute__((constructor)) static void forget_coretype(void) {
    (void)openblas_get_corename;  // a reference, so the link keeps libopenblas as a dependency
    unsetenv("OPENBLAS_CORETYPE");
}
