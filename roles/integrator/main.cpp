#include "roles/integrator/integrator.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Integrator>(argc, argv); }
