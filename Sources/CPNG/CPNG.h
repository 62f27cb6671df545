// libpng (Debian libpng-dev): DiceKit uses the simplified API (png_image_*), which handles
// libpng's setjmp/longjmp error recovery inside C, so no longjmp ever crosses a Swift frame.
#include <png.h>
