#include "roles/synthesizer/synthesizer.hpp"
#include "runtime/runtime.hpp"

int main(int argc, char** argv) { return agency::run_role<agency::roles::Synthesizer>(argc, argv); }
