// Binds ONNX Runtime's C API at run time. The header comes from Debian 13's libonnxruntime-dev
// (`make deps` puts it in .stack/onnxruntime/include); the library from the PyPI wheel.
#include "CONNXRuntime.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <onnxruntime_c_api.h>

struct sm_ort_session {
    OrtSession *session;
    char input_name[SM_ORT_NAME_SIZE];
    char output_name[SM_ORT_NAME_SIZE];
};

struct sm_ort_run {
    OrtRunOptions *options;
};

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static const OrtApi *api = NULL;
static OrtEnv *env = NULL;
static OrtMemoryInfo *cpu_memory = NULL;
static char version[64] = "";

static void copy_text(char *target, size_t size, const char *text) {
    if (size == 0) return;
    snprintf(target, size, "%s", text ? text : "");
}

// Copies the status's message into `error` and releases it; returns -1 when there was one.
static int failed(OrtStatus *status, char *error, size_t error_size, const char *what) {
    if (status == NULL) return 0;
    if (error_size > 0) snprintf(error, error_size, "%s: %s", what, api->GetErrorMessage(status));
    api->ReleaseStatus(status);
    return -1;
}

int sm_ort_load(const char *path, char *error, size_t error_size) {
    pthread_mutex_lock(&load_lock);
    if (api != NULL) {
        pthread_mutex_unlock(&load_lock);
        return 0;
    }
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        copy_text(error, error_size, dlerror());
        pthread_mutex_unlock(&load_lock);
        return -1;
    }
    const OrtApiBase *(*get_api_base)(void) = (const OrtApiBase *(*)(void))dlsym(library, "OrtGetApiBase");
    if (get_api_base == NULL) {
        snprintf(error, error_size, "%s exports no OrtGetApiBase: not an ONNX Runtime library", path);
        dlclose(library);
        pthread_mutex_unlock(&load_lock);
        return -1;
    }
    const OrtApiBase *base = get_api_base();
    const char *library_version = base->GetVersionString();
    // GetApi answers NULL when the library is older than the API version asked for.
    const OrtApi *candidate = base->GetApi(ORT_API_VERSION);
    if (candidate == NULL) {
        snprintf(error, error_size, "ONNX Runtime %s does not offer C API version %u (the header's); a newer library is needed",
                 library_version ? library_version : "?", (unsigned)ORT_API_VERSION);
        dlclose(library);
        pthread_mutex_unlock(&load_lock);
        return -1;
    }
    api = candidate;
    OrtStatus *status = api->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "sensormine", &env);
    if (status == NULL) status = api->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &cpu_memory);
    if (status != NULL) {
        failed(status, error, error_size, "creating the ONNX Runtime environment");
        api = NULL;
        pthread_mutex_unlock(&load_lock);
        return -1;
    }
    copy_text(version, sizeof version, library_version);
    pthread_mutex_unlock(&load_lock);
    return 0;
}

const char *sm_ort_version(void) { return version; }

uint32_t sm_ort_api_version(void) { return ORT_API_VERSION; }

static int describe(const OrtTypeInfo *info, int32_t *type, size_t *rank, int64_t *dims, char *error, size_t error_size, const char *what) {
    const OrtTensorTypeAndShapeInfo *tensor = NULL;
    if (failed(api->CastTypeInfoToTensorInfo(info, &tensor), error, error_size, what)) return -1;
    if (tensor == NULL) {
        snprintf(error, error_size, "%s is not a tensor", what);
        return -1;
    }
    ONNXTensorElementDataType element;
    if (failed(api->GetTensorElementType(tensor, &element), error, error_size, what)) return -1;
    *type = (int32_t)element;
    size_t count = 0;
    if (failed(api->GetDimensionsCount(tensor, &count), error, error_size, what)) return -1;
    if (count > SM_ORT_MAX_RANK) {
        snprintf(error, error_size, "%s has %zu dimensions (at most %d)", what, count, SM_ORT_MAX_RANK);
        return -1;
    }
    *rank = count;
    return failed(api->GetDimensions(tensor, dims, count), error, error_size, what);
}

sm_ort_session *sm_ort_session_create(const void *model, size_t length, sm_ort_signature *signature, char *error, size_t error_size) {
    if (api == NULL) {
        copy_text(error, error_size, "ONNX Runtime is not loaded");
        return NULL;
    }
    memset(signature, 0, sizeof *signature);
    OrtSessionOptions *options = NULL;
    if (failed(api->CreateSessionOptions(&options), error, error_size, "session options")) return NULL;
    // Models share the stream consumer's thread: no thread pools of their own.
    OrtStatus *status = api->SetIntraOpNumThreads(options, 1);
    if (status == NULL) status = api->SetInterOpNumThreads(options, 1);
    if (status == NULL) status = api->SetSessionExecutionMode(options, ORT_SEQUENTIAL);
    if (status == NULL) status = api->SetSessionGraphOptimizationLevel(options, ORT_ENABLE_BASIC);
    OrtSession *session = NULL;
    if (status == NULL) status = api->CreateSessionFromArray(env, model, length, options, &session);
    api->ReleaseSessionOptions(options);
    if (failed(status, error, error_size, "the model cannot be loaded")) return NULL;

    sm_ort_session *result = calloc(1, sizeof *result);
    if (result == NULL) {
        api->ReleaseSession(session);
        copy_text(error, error_size, "out of memory");
        return NULL;
    }
    result->session = session;
    OrtAllocator *allocator = NULL;
    char *name = NULL;
    OrtTypeInfo *info = NULL;
    if (failed(api->GetAllocatorWithDefaultOptions(&allocator), error, error_size, "allocator")) goto fail;
    if (failed(api->SessionGetInputCount(session, &signature->input_count), error, error_size, "inputs")) goto fail;
    if (failed(api->SessionGetOutputCount(session, &signature->output_count), error, error_size, "outputs")) goto fail;
    if (signature->input_count == 0 || signature->output_count == 0) {
        snprintf(error, error_size, "the model has %zu inputs and %zu outputs; it needs at least one of each", signature->input_count, signature->output_count);
        goto fail;
    }
    if (failed(api->SessionGetInputName(session, 0, allocator, &name), error, error_size, "input name")) goto fail;
    copy_text(result->input_name, sizeof result->input_name, name);
    copy_text(signature->input_name, sizeof signature->input_name, name);
    allocator->Free(allocator, name);
    name = NULL;
    if (failed(api->SessionGetOutputName(session, 0, allocator, &name), error, error_size, "output name")) goto fail;
    copy_text(result->output_name, sizeof result->output_name, name);
    copy_text(signature->output_name, sizeof signature->output_name, name);
    allocator->Free(allocator, name);
    name = NULL;
    if (failed(api->SessionGetInputTypeInfo(session, 0, &info), error, error_size, "input type")) goto fail;
    int described = describe(info, &signature->input_type, &signature->input_rank, signature->input_dims, error, error_size, "the first input");
    api->ReleaseTypeInfo(info);
    info = NULL;
    if (described != 0) goto fail;
    if (failed(api->SessionGetOutputTypeInfo(session, 0, &info), error, error_size, "output type")) goto fail;
    described = describe(info, &signature->output_type, &signature->output_rank, signature->output_dims, error, error_size, "the first output");
    api->ReleaseTypeInfo(info);
    if (described != 0) goto fail;
    return result;
fail:
    api->ReleaseSession(session);
    free(result);
    return NULL;
}

void sm_ort_session_free(sm_ort_session *session) {
    if (session == NULL || api == NULL) return;
    api->ReleaseSession(session->session);
    free(session);
}

sm_ort_run *sm_ort_run_create(char *error, size_t error_size) {
    if (api == NULL) {
        copy_text(error, error_size, "ONNX Runtime is not loaded");
        return NULL;
    }
    sm_ort_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        copy_text(error, error_size, "out of memory");
        return NULL;
    }
    if (failed(api->CreateRunOptions(&run->options), error, error_size, "run options")) {
        free(run);
        return NULL;
    }
    return run;
}

void sm_ort_run_terminate(sm_ort_run *run) {
    if (run == NULL || api == NULL) return;
    OrtStatus *status = api->RunOptionsSetTerminate(run->options);
    if (status != NULL) api->ReleaseStatus(status);
}

void sm_ort_run_free(sm_ort_run *run) {
    if (run == NULL || api == NULL) return;
    api->ReleaseRunOptions(run->options);
    free(run);
}

int sm_ort_session_run(sm_ort_session *session, sm_ort_run *run, const float *input, const int64_t *dims, size_t rank,
                       float *output, size_t capacity, size_t *written, char *error, size_t error_size) {
    *written = 0;
    if (api == NULL || session == NULL) {
        copy_text(error, error_size, "ONNX Runtime is not loaded");
        return -1;
    }
    size_t elements = 1;
    for (size_t index = 0; index < rank; index++) {
        if (dims[index] < 0) {
            copy_text(error, error_size, "negative dimension");
            return -1;
        }
        elements *= (size_t)dims[index];
    }
    OrtValue *tensor = NULL;
    // The input is only read; ONNX Runtime's signature takes it as mutable.
    if (failed(api->CreateTensorWithDataAsOrtValue(cpu_memory, (void *)input, elements * sizeof(float), dims, rank,
                                                   ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &tensor), error, error_size, "input tensor")) return -1;
    const char *input_names[1] = {session->input_name};
    const char *output_names[1] = {session->output_name};
    OrtValue *result = NULL;
    OrtStatus *status = api->Run(session->session, run ? run->options : NULL, input_names, (const OrtValue *const *)&tensor, 1, output_names, 1, &result);
    api->ReleaseValue(tensor);
    if (failed(status, error, error_size, "inference failed")) return -1;
    int outcome = 0;
    OrtTensorTypeAndShapeInfo *shape = NULL;
    float *values = NULL;
    size_t count = 0;
    ONNXTensorElementDataType element;
    if (failed(api->GetTensorTypeAndShape(result, &shape), error, error_size, "output shape")) { outcome = -1; goto done; }
    status = api->GetTensorElementType(shape, &element);
    if (status == NULL) status = api->GetTensorShapeElementCount(shape, &count);
    api->ReleaseTensorTypeAndShapeInfo(shape);
    if (failed(status, error, error_size, "output shape")) { outcome = -1; goto done; }
    if (element != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
        copy_text(error, error_size, "the first output is not a float tensor");
        outcome = -1;
        goto done;
    }
    if (failed(api->GetTensorMutableData(result, (void **)&values), error, error_size, "output data")) { outcome = -1; goto done; }
    memcpy(output, values, (count < capacity ? count : capacity) * sizeof(float));
    *written = count;
done:
    api->ReleaseValue(result);
    return outcome;
}
