/* libFuzzer harness of the JSON config reader: any bytes, as a config; what it accepts
 * must come back from azs_settings_to_json and be read again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    azs_settings *s = NULL, *t = NULL;
    if (azs_settings_create(&s) == AZS_OK && azs_settings_load_json(s, text, "fuzz") == AZS_OK) {
        char *again = azs_settings_to_json(s);
        if (again && azs_settings_create(&t) == AZS_OK && azs_settings_load_json(t, again, "again") != AZS_OK) {
            fprintf(stderr, "accepted, but its JSON is refused: %s\n%s\n", azs_last_error(), again);
            abort(); /* what was accepted once must read back */
        }
        free(again);
    }
    azs_settings_destroy(t);
    azs_settings_destroy(s);
    free(text);
    return 0;
}
