// libjpeg-turbo (Debian libjpeg62-turbo-dev, pkg-config "libjpeg"). jpeglib.h needs stdio.h
// (FILE) and stddef.h (size_t) first. DiceKit never calls libjpeg from Swift directly: its error
// handler longjmps, so every call goes through the C shim in CImageCodecs.
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>
