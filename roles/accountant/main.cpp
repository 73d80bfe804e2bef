#include "roles/accountant/accountant.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Accountant>(argc, argv); }
