/* placeholder: replaced when the geometry module lands */
typedef int azs_geometry_placeholder;
