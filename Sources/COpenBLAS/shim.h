// OpenBLAS's CBLAS interface plus its thread and core-name extras (Linux). On Apple platforms EPTensors uses
// Accelerate instead and this module is not linked.
#include <cblas.h>
