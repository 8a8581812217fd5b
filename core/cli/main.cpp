#include <iostream>
int main(int argc, char** argv) {
  (void)argc; (void)argv;
  std::cout << "berth " << BERTH_VERSION << "\n";
  return 0;
}
