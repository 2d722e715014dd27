/* Internal: what the JSON config reader's files share (config.c reads the keys of a
 * version-5 config; config_upgrade.c brings versions 1-4 to 5 first, as pyFAI does). */
#ifndef AZS_JOB_CONFIG_INTERNAL_H
#define AZS_JOB_CONFIG_INTERNAL_H

#include <cjson/cJSON.h>

#include "common/error.h"
#include "settings_internal.h"

typedef struct ctx {
    azs_settings *s;
    const char *origin;
    int version; /* 1..5 (6 and above read as 5, as pyFAI does) */
    int pyfai;   /* a pyFAI config (version, application or nbpt_rad), not option names only */
} ctx;

static inline azs_status bad(const ctx *c, const char *key, const char *why)
{
    return azs_fail(AZS_ERR_PARSE, "%s: key '%s': %s", c->origin, key, why);
}

static inline int is_num(const cJSON *x) { return cJSON_IsNumber(x); }

static inline azs_status check_bool(const ctx *c, const cJSON *x)
{
    return cJSON_IsBool(x) || cJSON_IsNull(x) || is_num(x) ? AZS_OK : bad(c, x->string, "not true or false");
}

static inline int truthy(const cJSON *x) { return cJSON_IsTrue(x) || (is_num(x) && x->valuedouble != 0); }

/* The keys of a geometry ("poni" object in version 4 and later, top level before). */
static const char *const PONI_KEYS[] = {"poni_version", "detector", "detector_config", "dist", "distance",
                                        "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"};

/* Versions 1-4 rewritten in place into version 5 (pyFAI's upgrade chain); c->version set. */
azs_status azs_config_upgrade(ctx *c, cJSON *root);

#endif
