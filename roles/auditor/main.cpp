#include "roles/auditor/auditor.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Auditor>(argc, argv); }
