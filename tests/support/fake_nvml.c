/* A stand-in for the NVIDIA driver's NVML (libnvidia-ml.so.1), for tests on hosts without a GPU:
   two devices of 81,559 MB whose minor numbers (7, 8) differ from their indexes (0, 1), and one
   compute process on each: the pid in FAKE_NVML_PID holding 2,048 MB, and a process whose usage
   the driver does not report (NVML_VALUE_NOT_AVAILABLE). Built by the tests with the host's cc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

static int initialised = 0;

int nvmlInit_v2(void) { initialised++; return 0; }
int nvmlShutdown(void) { if (initialised == 0) return 1; initialised--; return 0; }
int nvmlDeviceGetCount_v2(unsigned int *count) { if (!initialised) return 1; *count = 2; return 0; }

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **handle) {
    if (!initialised || index > 1) return 2;
    *handle = (void *)(long)(index + 1);
    return 0;
}

int nvmlDeviceGetName(void *handle, char *name, unsigned int length) {
    snprintf(name, length, "Fake NVML GPU");
    return 0;
}

int nvmlDeviceGetUUID(void *handle, char *uuid, unsigned int length) {
    snprintf(uuid, length, "GPU-fa4e0000-0000-0000-0000-00000000000%ld", (long)handle);
    return 0;
}

int nvmlDeviceGetMemoryInfo(void *handle, nvmlMemory_t *memory) {
    memory->total = 81559ULL * 1024 * 1024;
    memory->used = 0;
    memory->free = memory->total;
    return 0;
}

int nvmlDeviceGetMinorNumber(void *handle, unsigned int *minor) {
    *minor = (unsigned int)(long)handle + 6;
    return 0;
}

int nvmlDeviceGetHandleByUUID(const char *uuid, void **handle) {
    size_t length = strlen(uuid);
    if (!initialised || length == 0) return 2;
    *handle = (void *)(long)(uuid[length - 1] - '0');
    return 0;
}

int nvmlDeviceGetComputeRunningProcesses_v3(void *handle, unsigned int *count, nvmlProcessInfo_t *infos) {
    const char *pid = getenv("FAKE_NVML_PID");
    if (*count < 2) { *count = 2; return 7; /* NVML_ERROR_INSUFFICIENT_SIZE */ }
    infos[0].pid = pid ? (unsigned int)atoi(pid) : 0;
    infos[0].usedGpuMemory = 2048ULL * 1024 * 1024;
    infos[1].pid = infos[0].pid;
    infos[1].usedGpuMemory = ~0ULL; /* NVML_VALUE_NOT_AVAILABLE */
    *count = 2;
    return 0;
}
