/* Debian installs NIfTI's headers in /usr/include/nifti, and nifti2_io.h includes <znzlib.h> with
   angle brackets. This forwarding header (on the shim's own header search path) resolves it
   without an -I flag. The shim never touches znz's file type, so HAVE_ZLIB stays undefined here. */
#include "/usr/include/nifti/znzlib.h"
