/* Shared by `azstream integrate` and `azstream bench`: the integration settings (from
 * options and/or a pyFAI-style JSON config), and turning them into a geometry + integrator. */
#ifndef AZS_PROGRAMS_INTEGRATE_SETUP_H
#define AZS_PROGRAMS_INTEGRATE_SETUP_H

#include "azstream/integrate.h"
#include "azstream/layout.h"

typedef struct integ_settings {
    char poni_path[4096];
    int have_geom;             /* geometry given inline (JSON config) */
    azs_geometry geom;
    azs_integrate_options io;  /* mask/dark/flat pointers filled by integ_build */
    char mask[4096], dark[4096], flat[4096];
} integ_settings;

void integ_settings_default(integ_settings *s);
/* Apply one option (name without leading dashes, value may be NULL for flags).
 * Returns 1 if consumed, 0 if not an integration option, -1 on a bad value (message
 * printed, cmd names the sub-command). */
int integ_option(integ_settings *s, const char *cmd, const char *name, const char *value);
/* Does the option take a value? (-1: not an integration option) */
int integ_option_takes_value(const char *name);
/* Load a JSON config (pyFAI integration keys or our own option names). 0 ok, else exit code. */
int integ_load_config(integ_settings *s, const char *cmd, const char *path);
/* Load PONI / arrays, check shapes against (ny, nx) of the data, build the integrator.
 * Returns 0 or an exit code (message printed). */
int integ_build(integ_settings *s, const char *cmd, uint32_t ny, uint32_t nx, azs_integrator **it);
/* The effective configuration as JSON (malloc'd string). */
char *integ_settings_json(const integ_settings *s, const char *const *inputs, int ninputs,
                          const char *layout, int workers);
const char *integ_split_name(azs_split s);

#endif
