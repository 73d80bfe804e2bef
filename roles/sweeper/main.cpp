#include "agents/runtime.hpp"
#include "roles/sweeper/sweeper.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Sweeper>(argc, argv); }
