// A narrow C interface to ONNX Runtime's C API, which is loaded at run time (dlopen): Debian 12
// has no library to link against (ADR 23). Only this file's functions are seen by Swift; the
// OrtApi table stays in ort_shim.c.
#ifndef SENSORMINE_CONNXRUNTIME_H
#define SENSORMINE_CONNXRUNTIME_H

#include <stddef.h>
#include <stdint.h>

typedef struct sm_ort_session sm_ort_session;
typedef struct sm_ort_run sm_ort_run;

#define SM_ORT_MAX_RANK 8
#define SM_ORT_NAME_SIZE 128
/// ONNXTensorElementDataType of float tensors.
#define SM_ORT_FLOAT 1

/// What a model takes and returns: its first input and first output.
typedef struct {
    size_t input_count;
    size_t output_count;
    char input_name[SM_ORT_NAME_SIZE];
    char output_name[SM_ORT_NAME_SIZE];
    int32_t input_type;   // ONNXTensorElementDataType; 1 is float
    int32_t output_type;
    size_t input_rank;
    size_t output_rank;
    int64_t input_dims[SM_ORT_MAX_RANK];   // -1 where the model leaves a dimension free
    int64_t output_dims[SM_ORT_MAX_RANK];
} sm_ort_signature;

/// Loads the library at `path` (a file name is looked up as dlopen does) and binds the API
/// version of the header compiled in. 0 on success; otherwise -1 and a message in `error`.
int sm_ort_load(const char *path, char *error, size_t error_size);
/// The loaded library's version ("1.32.0"); empty before a successful load.
const char *sm_ort_version(void);
/// The C API version this code was compiled against (ORT_API_VERSION of the header).
uint32_t sm_ort_api_version(void);

/// A session over a model held in memory, one intra-op thread, sequential execution.
sm_ort_session *sm_ort_session_create(const void *model, size_t length, sm_ort_signature *signature, char *error, size_t error_size);
void sm_ort_session_free(sm_ort_session *session);

/// Run options: a handle another thread may terminate a run through.
sm_ort_run *sm_ort_run_create(char *error, size_t error_size);
void sm_ort_run_terminate(sm_ort_run *run);
void sm_ort_run_free(sm_ort_run *run);

/// Runs the model on a float tensor of `rank` dimensions `dims` (the data holds their product)
/// and copies its first output (float) into `output`, at most `capacity` values; `written` gets
/// the output's element count (more than `capacity` means it was cut). 0 on success.
int sm_ort_session_run(sm_ort_session *session, sm_ort_run *run, const float *input, const int64_t *dims, size_t rank,
                       float *output, size_t capacity, size_t *written, char *error, size_t error_size);

#endif
