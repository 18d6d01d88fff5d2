#ifndef CCAIRO_SHIM_H
#define CCAIRO_SHIM_H
// cairo draws the text, axes and lines of timeline.png and drift.png; libpng (CamwatchImage) encodes them.
#include <cairo.h>
#endif
