#pragma once

#include <string>

namespace berth::containers {

// A Docker-style generated name, "adjective_surname" (surnames of scientists and hackers).
std::string generate_name(int attempt);
// Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+
bool valid_name(const std::string& name);

}  // namespace berth::containers
