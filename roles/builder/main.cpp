#include "agents/runtime.hpp"
#include "roles/builder/builder.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Builder>(argc, argv); }
