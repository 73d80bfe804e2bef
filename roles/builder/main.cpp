#include "roles/builder/builder.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Builder>(argc, argv); }
