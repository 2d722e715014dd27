/* pyFAI's upgrade chain for integration configs: versions 1-4 rewritten in place into
 * version 5, key by key as pyFAI 2026.9's normalize() does (doc/integration.md, "pyFAI
 * configs"), so that config.c reads one version only. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"

static void move(cJSON *from, const char *key, cJSON *to, const char *as)
{
    cJSON *x = cJSON_DetachItemFromObjectCaseSensitive(from, key);
    if (x) {
        cJSON_DeleteItemFromObjectCaseSensitive(to, as);
        cJSON_AddItemToObject(to, as, x);
    }
}

/* Versions 1..3 keep the geometry at the top level; version 1 also a detector's pixel sizes
 * and shape beside it, and "poni" as a PONI file whose values fill in what is missing. */
static azs_status upgrade_geometry(ctx *c, cJSON *root)
{
    static const char *const top[] = {"dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"};
    cJSON *poni = cJSON_GetObjectItemCaseSensitive(root, "poni");
    int has_top = cJSON_HasObjectItem(root, "detector") || cJSON_HasObjectItem(root, "detector_config") ||
                  cJSON_HasObjectItem(root, "poni_version");
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        has_top |= cJSON_HasObjectItem(root, top[i]);
    if (c->version == 1) {
        const cJSON *p1 = cJSON_GetObjectItemCaseSensitive(root, "pixel1");
        const cJSON *p2 = cJSON_GetObjectItemCaseSensitive(root, "pixel2");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(root, "shape");
        const cJSON *det = cJSON_GetObjectItemCaseSensitive(root, "detector");
        int generic = cJSON_IsString(det) ? !strcasecmp(det->valuestring, "detector") : (p1 && p2 && sh);
        const char *sk = cJSON_HasObjectItem(root, "splineFile") ? "splineFile" : "splinefile";
        const cJSON *spline = cJSON_GetObjectItemCaseSensitive(root, sk);
        if (spline && !cJSON_IsNull(spline) && !(cJSON_IsString(spline) && !spline->valuestring[0]))
            return bad(c, sk, "spline distortion files are not supported");
        cJSON_DeleteItemFromObjectCaseSensitive(root, sk);
        if (generic && (p1 || p2)) {
            cJSON *dc = cJSON_CreateObject();
            if (!dc)
                return azs_fail(AZS_ERR_NOMEM, "%s", c->origin);
            move(root, "pixel1", dc, "pixel1");
            move(root, "pixel2", dc, "pixel2");
            if (sh)
                cJSON_AddItemToObject(dc, "max_shape", cJSON_Duplicate(sh, 1));
            cJSON_DeleteItemFromObjectCaseSensitive(root, "detector_config");
            cJSON_AddItemToObject(root, "detector_config", dc);
            if (!det)
                cJSON_AddStringToObject(root, "detector", "Detector");
            has_top = 1;
        } else { /* pyFAI drops them beside a named detector */
            cJSON_DeleteItemFromObjectCaseSensitive(root, "pixel1");
            cJSON_DeleteItemFromObjectCaseSensitive(root, "pixel2");
        }
        if (cJSON_IsString(poni) && has_top) {
            /* The file's values for the keys the config lacks. */
            azs_geometry g;
            azs_status st = azs_poni_load(poni->valuestring, &g);
            if (st != AZS_OK)
                return azs_fail_context(AZS_ERR_PARSE, "%s: key 'poni': ", c->origin);
            cJSON *geo = cJSON_CreateObject();
            if (!geo)
                return azs_fail(AZS_ERR_NOMEM, "%s", c->origin);
            azs_settings_geometry_into(geo, &g, !cJSON_HasObjectItem(root, "detector"));
            for (size_t i = 0; i < sizeof PONI_KEYS / sizeof PONI_KEYS[0]; i++)
                move(root, PONI_KEYS[i], geo, PONI_KEYS[i]);
            cJSON_DeleteItemFromObjectCaseSensitive(root, "poni");
            cJSON_AddItemToObject(root, "poni", geo);
            return AZS_OK;
        }
    }
    if (!has_top)
        return AZS_OK;
    if (poni && !cJSON_IsNull(poni))
        return bad(c, "poni", "given with a geometry at the top level");
    cJSON *geo = cJSON_CreateObject();
    if (!geo)
        return azs_fail(AZS_ERR_NOMEM, "%s", c->origin);
    for (size_t i = 0; i < sizeof PONI_KEYS / sizeof PONI_KEYS[0]; i++)
        move(root, PONI_KEYS[i], geo, PONI_KEYS[i]);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "poni");
    cJSON_AddItemToObject(root, "poni", geo);
    return AZS_OK;
}

/* Version 4 → 5: renamed keys, the polarization pair, and the do_* switches that delete
 * what they govern when false (before the renames, as pyFAI does). */
static azs_status upgrade_v4(ctx *c, cJSON *root)
{
    if (!cJSON_HasObjectItem(root, "integrator_method"))
        move(root, "integrator_name", root, "integrator_method");
    cJSON *pf = cJSON_DetachItemFromObjectCaseSensitive(root, "polarization_factor");
    if (pf) {
        cJSON *off = cJSON_DetachItemFromObjectCaseSensitive(root, "polarization_offset");
        cJSON *d = NULL;
        if (off || is_num(pf)) {
            d = cJSON_CreateArray();
            cJSON_AddItemToArray(d, pf);
            cJSON_AddItemToArray(d, off ? off : cJSON_CreateNumber(0));
        } else if (cJSON_IsArray(pf) || cJSON_IsNull(pf)) {
            d = pf;
        } else {
            cJSON_Delete(pf);
            return bad(c, "polarization_factor", "not a number");
        }
        cJSON_DeleteItemFromObjectCaseSensitive(root, "polarization_description");
        cJSON_AddItemToObject(root, "polarization_description", d);
    }
    static const char *const del[][5] = {
        {"do_mask", "mask_image", "mask_file", NULL, NULL},
        {"do_flat", "flat_field", "flat_field_image", NULL, NULL},
        {"do_dark", "dark_current", "dark_current_image", NULL, NULL},
        {"do_polarization", "polarization_description", NULL, NULL, NULL},
        {"do_dummy", "val_dummy", "delta_dummy", NULL, NULL},
        {"do_radial_range", "radial_range_min", "radial_range_max", NULL, NULL},
        {"do_azimuthal_range", "azimuth_range_min", "azimuth_range_max", "azimuthal_range_min", "azimuthal_range_max"},
    };
    for (size_t i = 0; i < sizeof del / sizeof del[0]; i++) {
        const cJSON *sw = cJSON_GetObjectItemCaseSensitive(root, del[i][0]);
        if (sw && !truthy(sw))
            for (int k = 1; k < 5 && del[i][k]; k++)
                cJSON_DeleteItemFromObjectCaseSensitive(root, del[i][k]);
    }
    static const char *const ren[][2] = {{"azimuth_range_min", "azimuthal_range_min"},
                                         {"azimuth_range_max", "azimuthal_range_max"},
                                         {"do_azimuthal_range", "do_azimuth_range"},
                                         {"flat_field", "flat_field_image"},
                                         {"dark_current", "dark_current_image"},
                                         {"mask_file", "mask_image"},
                                         {"val_dummy", "dummy"}};
    for (size_t i = 0; i < sizeof ren / sizeof ren[0]; i++)
        if (!cJSON_HasObjectItem(root, ren[i][0]))
            move(root, ren[i][1], root, ren[i][0]);
    return AZS_OK;
}

azs_status azs_config_upgrade(ctx *c, cJSON *root)
{
    azs_status st;
    if (c->version == 1) {
        /* Comma-separated darks and flats become lists. */
        static const char *const lists[] = {"dark_current", "flat_field"};
        for (int i = 0; i < 2; i++) {
            cJSON *x = cJSON_GetObjectItemCaseSensitive(root, lists[i]);
            if (!cJSON_IsString(x) || !strchr(x->valuestring, ','))
                continue;
            cJSON *l = cJSON_CreateArray();
            char *dup = strdup(x->valuestring);
            if (!l || !dup) {
                cJSON_Delete(l);
                free(dup);
                return azs_fail(AZS_ERR_NOMEM, "%s", c->origin);
            }
            for (char *save = NULL, *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')
                    t++;
                size_t e = strlen(t);
                while (e && (t[e - 1] == ' ' || t[e - 1] == '\t' || t[e - 1] == '\n' || t[e - 1] == '\r'))
                    t[--e] = 0;
                cJSON_AddItemToArray(l, cJSON_CreateString(t));
            }
            free(dup);
            cJSON_ReplaceItemInObjectCaseSensitive(root, lists[i], l);
        }
        cJSON *ocl = cJSON_DetachItemFromObjectCaseSensitive(root, "do_OpenCL");
        if (ocl && check_bool(c, ocl) != AZS_OK) {
            cJSON_Delete(ocl);
            return azs_fail(AZS_ERR_PARSE, "%s: key 'do_OpenCL': not true or false", c->origin);
        }
        if (!cJSON_HasObjectItem(root, "method") && c->pyfai)
            cJSON_AddStringToObject(root, "method", truthy(ocl) ? "csr_ocl" : "splitbbox");
        cJSON_Delete(ocl);
    }
    if (c->version <= 3 && (st = upgrade_geometry(c, root)) != AZS_OK)
        return st;
    if (c->version <= 4 && (st = upgrade_v4(c, root)) != AZS_OK)
        return st;
    return AZS_OK;
}

