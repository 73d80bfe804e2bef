#include "agents/runtime.hpp"
#include "roles/adversary/adversary.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Adversary>(argc, argv); }
