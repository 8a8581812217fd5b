// A shared object with no berth entry point.
extern "C" __attribute__((visibility("default"))) int not_a_berth_plugin() { return 42; }
