#include "roles/adversary/adversary.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Adversary>(argc, argv); }
