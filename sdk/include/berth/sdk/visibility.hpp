#pragma once

// Interfaces that cross the plugin boundary keep default visibility, so their typeinfo and
// vtables resolve to one definition even when plugins build with -fvisibility=hidden.
#define BERTH_SDK_VISIBLE __attribute__((visibility("default")))
