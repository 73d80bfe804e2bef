#include "agents/runtime.hpp"
#include "roles/reviewer/reviewer.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Reviewer>(argc, argv); }
