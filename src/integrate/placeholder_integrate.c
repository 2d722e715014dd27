/* placeholder: replaced when the integrate module lands */
typedef int azs_integrate_placeholder;
