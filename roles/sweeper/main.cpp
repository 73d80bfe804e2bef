#include "roles/sweeper/sweeper.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Sweeper>(argc, argv); }
