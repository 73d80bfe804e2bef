#include "roles/reviewer/reviewer.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Reviewer>(argc, argv); }
