#include "agents/runtime.hpp"
#include "roles/accountant/accountant.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Accountant>(argc, argv); }
