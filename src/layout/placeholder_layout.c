/* placeholder: replaced when the layout module lands */
typedef int azs_layout_placeholder;
